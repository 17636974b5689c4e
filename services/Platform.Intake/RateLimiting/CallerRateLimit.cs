using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;
using Platform.Intake.Auth;

namespace Platform.Intake.RateLimiting;

/// <summary><c>Platform:RateLimit</c>: requests each caller may make per fixed window.</summary>
public sealed class RateLimitOptions : IValidatableObject
{
    public const string Section = "Platform:RateLimit";

    [Range(1, int.MaxValue)]
    public int PermitLimit { get; set; } = 1000;

    public TimeSpan Window { get; set; } = TimeSpan.FromSeconds(10);

    public string Describe() => $"at most {PermitLimit} requests per {Window.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s per caller";

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Window < TimeSpan.FromMilliseconds(1) || Window > TimeSpan.FromDays(1))
            yield return new ValidationResult($"{Section}:Window must be between 00:00:00.001 and 1.00:00:00; got {Window}", [nameof(Window)]);
    }
}

/// <summary>
/// One fixed window per caller — the user, the admin, or for a request without a valid key its remote address — so a
/// caller that floods the API is answered 429 while everyone else's requests go through as before. Runs after
/// authentication (it partitions by who the caller is) and before authorization.
/// </summary>
public static partial class CallerRateLimit
{
    public const string ProblemType = "https://platform.local/problems/rate-limited";

    public static IHostApplicationBuilder AddCallerRateLimit(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddRateLimiter(_ => { });
        builder.Services.AddOptions<RateLimiterOptions>().Configure<IOptions<RateLimitOptions>>((limiter, options) =>
        {
            var limit = options.Value;
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                IsHealth(context.Request.Path)
                    ? RateLimitPartition.GetNoLimiter("health")
                    : RateLimitPartition.GetFixedWindowLimiter(Caller(context), _ => new FixedWindowRateLimiterOptions
                    {
                        PermitLimit = limit.PermitLimit,
                        Window = limit.Window,
                        // Refuse at once: a queued request would only hold a connection open until its window comes round.
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    }));
            limiter.OnRejected = (rejected, cancellationToken) => Reject(rejected.HttpContext, rejected.Lease, limit);
        });
        return builder;
    }

    /// <summary>Health probes come from the orchestrator of the deployment, not a caller: never limited.</summary>
    static bool IsHealth(PathString path) => path.StartsWithSegments("/health", StringComparison.OrdinalIgnoreCase);

    static string Caller(HttpContext context) =>
        context.User.IsAdmin() ? "admin"
        : context.User.UserId() is { } userId ? "user:" + userId
        : "ip:" + (context.Connection.RemoteIpAddress?.ToString() ?? "unknown");

    static async ValueTask Reject(HttpContext context, RateLimitLease lease, RateLimitOptions limit)
    {
        var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : limit.Window;
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        LogRejected(context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(CallerRateLimit)), Caller(context), limit.PermitLimit,
            limit.Window, seconds);
        await Results.Problem(
                title: "Too many requests",
                detail: $"{limit.Describe()}; retry after {seconds} s",
                statusCode: StatusCodes.Status429TooManyRequests,
                type: ProblemType,
                extensions: new Dictionary<string, object?>
                {
                    ["permitLimit"] = limit.PermitLimit,
                    ["windowSeconds"] = limit.Window.TotalSeconds,
                    ["retryAfterSeconds"] = seconds,
                })
            .ExecuteAsync(context);
    }

    // Debug: a flooding caller would otherwise write a log line per refused request.
    [LoggerMessage(Level = LogLevel.Debug, Message = "Rate limit: {Caller} is over {PermitLimit} requests per {Window}; answered 429, retry after {Seconds} s")]
    static partial void LogRejected(ILogger logger, string caller, int permitLimit, TimeSpan window, int seconds);
}
