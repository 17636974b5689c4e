using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Platform.Intake.Auth;

/// <summary>
/// <c>Authorization: Bearer &lt;key&gt;</c>: the admin key from configuration, or a user's key (stored hashed); or, from a
/// browser, the office's session cookie, which holds the hash of the key it was made from (see <see cref="SessionCookie"/>).
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptions<IntakeOptions> intake,
    SessionCookie sessions,
    ApiKeysLookup keys) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string AdminRole = "admin";

    /// <summary>The hash of the key a user's request was authenticated with: a long-lived stream checks it is still the user's.</summary>
    public const string KeyHashClaim = "platform:key_hash";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        // A Bearer header wins over a cookie: a script that names its key means that key.
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            var key = header["Bearer ".Length..].Trim();
            if (key.Length == 0)
                return AuthenticateResult.Fail("empty bearer token");
            return keys.IsAdminKey(key) ? AsAdmin() : await AsUser(ApiKeys.Hash(key), expectedUserId: null);
        }

        if (Request.Cookies[SessionCookie.Name] is not { Length: > 0 } cookie)
            return AuthenticateResult.NoResult();
        if (sessions.Unprotect(cookie) is not { } ticket)
            return AuthenticateResult.Fail("session cookie expired or unreadable");

        var session = new Claim(SessionCookie.MethodClaim, SessionCookie.MethodSession);
        // The admin's session holds the admin key's hash: changing Platform__AdminApiKey ends it as a rotation ends a user's.
        if (ticket.IsAdmin)
            return SessionCookie.HashesEqual(ticket.ApiKeyHash, ApiKeys.Hash(intake.Value.AdminApiKey))
                ? AsAdmin(session)
                : AuthenticateResult.Fail("the admin key changed since the session began");
        return await AsUser(ticket.ApiKeyHash, ticket.UserId, session);
    }

    static AuthenticateResult AsAdmin(params Claim[] extra) =>
        Success([new Claim(ClaimTypes.Role, AdminRole), new Claim(ClaimTypes.Name, "admin"), .. extra]);

    async Task<AuthenticateResult> AsUser(string hash, string? expectedUserId, params Claim[] extra)
    {
        // Looked up on every request, so a rotated key, and every session made from it, answers 401 at once.
        var userId = await keys.UserOf(hash, Context.RequestAborted);
        if (userId is null || (expectedUserId is not null && userId != expectedUserId))
            return AuthenticateResult.Fail(expectedUserId is null ? "unknown API key" : "the session's API key was rotated");
        return Success([new Claim(ClaimTypes.NameIdentifier, userId), new Claim(ClaimTypes.Name, userId), new Claim(KeyHashClaim, hash), .. extra]);
    }

    static AuthenticateResult Success(params Claim[] claims) =>
        AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName)), SchemeName));
}

public static class ApiKeys
{
    public static string New() => "pk_" + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

public static class PrincipalExtensions
{
    public static bool IsAdmin(this ClaimsPrincipal user) => user.IsInRole(ApiKeyAuthenticationHandler.AdminRole);

    /// <summary>The calling user's id, or null for the admin.</summary>
    public static string? UserId(this ClaimsPrincipal user) => user.FindFirstValue(ClaimTypes.NameIdentifier);
}
