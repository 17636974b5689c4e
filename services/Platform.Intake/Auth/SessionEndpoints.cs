using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Platform.Data;
using Platform.Intake.Endpoints;
using Platform.Intake.OpenApi;

namespace Platform.Intake.Auth;

public sealed record SignInRequest([property: Description("A user's API key, or the admin key.")] string? ApiKey);

public sealed record SessionView(
    [property: Description("The signed-in user's id; `admin` for the admin.")] string UserId,
    [property: AllowedValues("user", "admin")] string Role,
    [property: TierName, Description("The user's tier; null for the admin.")] string? Tier);

/// <summary>
/// <c>/v1/session</c>: the office signs in by trading an API key for an HttpOnly, SameSite=Strict cookie, so the key is
/// never kept in a URL or in the page's storage (docs/office.md).
/// </summary>
public static class SessionEndpoints
{
    public static void MapSessionEndpoints(this IEndpointRouteBuilder app)
    {
        var session = app.MapGroup("/v1/session").WithTags("session");

        session.MapPost("/", SignIn).AllowAnonymous()
            .WithSummary("Sign in (browser session)")
            .WithDescription("Checks the API key and answers with a `platform_session` cookie (HttpOnly, SameSite=Strict, Path=/, Secure over https) " +
                "that authenticates the browser's later requests instead of a Bearer header. The cookie ends when the key is rotated, when " +
                "`Platform:Session:Lifetime` has passed, or on `DELETE /v1/session`. A request made with it that changes something " +
                "(POST, PUT, DELETE) must send `X-Platform-Office: 1` and, if it sends `Origin`, the intake's own origin.")
            .ReadsJsonBody(new SignInRequest("pk_3q2V7cYb0oN2m4d3tF1kXwZL9u8sR5eA6hJ0pQyTgIc"))
            .AnswersNoContent("Signed in: the answer sets the session cookie.")
            .FieldProblem(StatusCodes.Status400BadRequest, "`apiKey` is missing; `errors` names it.",
                EndpointDocs.ProblemExample("validation", 400, "The request is invalid", "apiKey", "apiKey is required"))
            .FieldProblem(StatusCodes.Status401Unauthorized, "The key is unknown (or was rotated); `errors` names `apiKey`.",
                EndpointDocs.ProblemExample("unauthorized", 401, "Sign-in refused", "apiKey", "this API key is unknown or was rotated"))
            .FieldProblem(StatusCodes.Status403Forbidden, "The request came from another origin (`Origin` is not the intake's); `errors` names `Origin`.");

        session.MapGet("/", Get).RequireAuthorization()
            .WithSummary("Who is signed in")
            .WithDescription("The caller (by session cookie or Bearer key): their user id, role and tier.")
            .Answers(StatusCodes.Status200OK, "The caller.", new SessionView("acme-research", "user", "pro"));

        session.MapDelete("/", SignOut).AllowAnonymous()
            .WithSummary("Sign out (browser session)")
            .WithDescription("Clears the session cookie. Answers 204 whether or not a session was there.")
            .AnswersNoContent("Signed out: the answer clears the cookie.");
    }

    static async Task<IResult> SignIn(SignInRequest request, HttpContext http, SessionCookie sessions, ApiKeysLookup keys, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.ApiKey))
            return Problems.Field("apiKey", "apiKey is required");
        if (SameOriginProof.ForeignOrigin(http.Request) is { } origin)
            return SameOriginProof.Refuse("Origin", $"sign-in from origin '{origin}' refused: the office signs in from the intake's own origin");

        var key = request.ApiKey.Trim();
        SessionTicket? ticket = keys.IsAdminKey(key) ? new SessionTicket(null, ApiKeys.Hash(key))
            : await keys.UserOf(ApiKeys.Hash(key), cancellationToken) is { } userId ? new SessionTicket(userId, ApiKeys.Hash(key))
            : null;
        if (ticket is null)
            return Results.Problem(title: "Sign-in refused", detail: "this API key is unknown or was rotated", statusCode: StatusCodes.Status401Unauthorized,
                type: "https://platform.local/problems/unauthorized",
                extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["apiKey"] = ["this API key is unknown or was rotated"] } });

        http.Response.Cookies.Append(SessionCookie.Name, sessions.Protect(ticket), sessions.CookieOptions(http.Request));
        return Results.NoContent();
    }

    static async Task<IResult> Get(HttpContext http, PlatformDbContext db, CancellationToken cancellationToken)
    {
        if (http.User.IsAdmin())
            return Results.Ok(new SessionView("admin", "admin", null));
        var userId = http.User.UserId()!;
        var tier = await db.Users.AsNoTracking().Where(u => u.UserId == userId).Select(u => u.Tier).SingleOrDefaultAsync(cancellationToken);
        return tier is null ? Problems.NotFound($"user '{userId}' does not exist") : Results.Ok(new SessionView(userId, "user", tier));
    }

    static IResult SignOut(HttpContext http, SessionCookie sessions)
    {
        var options = sessions.CookieOptions(http.Request);
        options.MaxAge = null;
        http.Response.Cookies.Delete(SessionCookie.Name, options);
        return Results.NoContent();
    }
}

/// <summary>The two questions sign-in asks of an API key, answered as authentication answers them.</summary>
public sealed class ApiKeysLookup(PlatformDbContext db, IOptions<IntakeOptions> intake)
{
    /// <summary>True when <paramref name="key"/> is the admin key from configuration (compared in constant time).</summary>
    public bool IsAdminKey(string key) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(intake.Value.AdminApiKey));

    public Task<string?> UserOf(string hash, CancellationToken cancellationToken) =>
        db.Users.Where(u => u.ApiKeyHash == hash).Select(u => u.UserId).SingleOrDefaultAsync(cancellationToken);
}

/// <summary>
/// Cross-site request forgery guard for the session cookie. SameSite=Strict already keeps browsers from sending it on
/// requests another site starts; on top of that, a state-changing request authenticated by the cookie must carry
/// <c>X-Platform-Office: 1</c> (a custom header, which another origin cannot add without a CORS preflight the intake
/// never grants) and no foreign <c>Origin</c>. Bearer requests are left alone: a forged request cannot carry a key.
/// </summary>
public static class SameOriginProof
{
    public const string HeaderName = "X-Platform-Office";

    public static IApplicationBuilder UseSameOriginProof(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method) && !HttpMethods.IsOptions(context.Request.Method)
            && context.User.HasClaim(SessionCookie.MethodClaim, SessionCookie.MethodSession))
        {
            IResult? refused = ForeignOrigin(context.Request) is { } origin
                ? Refuse("Origin", $"a request from origin '{origin}' may not use the office's session")
                : context.Request.Headers[HeaderName] != "1"
                    ? Refuse(HeaderName, $"a request made with the office's session cookie must send the header {HeaderName}: 1")
                    : null;
            if (refused is not null)
            {
                await refused.ExecuteAsync(context);
                return;
            }
        }

        await next(context);
    });

    /// <summary>The request's <c>Origin</c> when it is there and not the intake's own (scheme and host as the request reached it).</summary>
    public static string? ForeignOrigin(HttpRequest request)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length == 0)
            return null;
        var own = $"{request.Scheme}://{request.Host}";
        return string.Equals(origin, own, StringComparison.OrdinalIgnoreCase) ? null : origin;
    }

    public static IResult Refuse(string field, string message) =>
        Results.Problem(title: "Forbidden", detail: message, statusCode: StatusCodes.Status403Forbidden, type: "https://platform.local/problems/forbidden",
            extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [field] = [message] } });
}
