using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;

namespace Platform.Intake.Auth;

/// <summary><c>Platform:Session</c>: the office's sign-in cookie (docs/office.md).</summary>
public sealed class OfficeSessionOptions
{
    public const string Section = "Platform:Session";

    /// <summary>How long a sign-in lasts; after it the cookie no longer authenticates and the office asks for the key again.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromHours(12);
}

/// <summary>Who a session cookie says signed in: a user, or the admin; and the hash of the API key they signed in with.</summary>
public sealed record SessionTicket(string? UserId, string ApiKeyHash)
{
    public bool IsAdmin => UserId is null;
}

/// <summary>
/// The office's session cookie. Its value is a Data Protection payload (the key ring every intake shares in PostgreSQL, so
/// any instance reads any cookie) holding the user's id and the hash of the key they signed in with; authentication
/// looks that hash up again on every request, so rotating the key ends the session at once.
/// </summary>
public sealed class SessionCookie(IDataProtectionProvider protection, IOptions<OfficeSessionOptions> options)
{
    public const string Name = "platform_session";

    /// <summary>Claim that marks a principal authenticated by this cookie (not by a Bearer header): such requests need a same-origin proof.</summary>
    public const string MethodClaim = "amr";
    public const string MethodSession = "session";

    // Versioned purpose: a payload of another shape is simply unreadable, never misread.
    readonly ITimeLimitedDataProtector _protector = protection.CreateProtector("Platform.Intake.Session.v1").ToTimeLimitedDataProtector();

    public TimeSpan Lifetime => options.Value.Lifetime;

    public string Protect(SessionTicket ticket) =>
        _protector.Protect((ticket.IsAdmin ? "a\n\n" : "u\n" + ticket.UserId + "\n") + ticket.ApiKeyHash, Lifetime);

    /// <summary>The ticket, or null for a cookie that is expired, tampered with, from another key ring or malformed.</summary>
    public SessionTicket? Unprotect(string value)
    {
        string payload;
        try
        {
            payload = _protector.Unprotect(value);
        }
        catch (CryptographicException)
        {
            return null;
        }

        var parts = payload.Split('\n');
        return parts switch
        {
            ["a", "", var hash] when hash.Length > 0 => new SessionTicket(null, hash),
            ["u", var user, var hash] when user.Length > 0 && hash.Length > 0 => new SessionTicket(user, hash),
            _ => null,
        };
    }

    public CookieOptions CookieOptions(HttpRequest request) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Path = "/",
        // Secure whenever the browser came over https; plain http only works for a local intake (docs/office.md).
        Secure = request.IsHttps,
        MaxAge = Lifetime,
        IsEssential = true,
    };

    public static bool HashesEqual(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(a), Encoding.ASCII.GetBytes(b));
}
