using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Platform.Data;

namespace Platform.Intake.Auth;

/// <summary><c>Authorization: Bearer &lt;key&gt;</c>: the admin key from configuration, or a user's key (stored hashed).</summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptions<IntakeOptions> intake,
    PlatformDbContext db) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string AdminRole = "admin";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return AuthenticateResult.NoResult();

        var key = header["Bearer ".Length..].Trim();
        if (key.Length == 0)
            return AuthenticateResult.Fail("empty bearer token");

        if (CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(intake.Value.AdminApiKey)))
            return Success(new Claim(ClaimTypes.Role, AdminRole), new Claim(ClaimTypes.Name, "admin"));

        var hash = ApiKeys.Hash(key);
        var userId = await db.Users.Where(u => u.ApiKeyHash == hash).Select(u => u.UserId).SingleOrDefaultAsync(Context.RequestAborted);
        return userId is null
            ? AuthenticateResult.Fail("unknown API key")
            : Success(new Claim(ClaimTypes.NameIdentifier, userId), new Claim(ClaimTypes.Name, userId));
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
