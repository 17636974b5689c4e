using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using Platform.Contracts;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Tiers;
using Platform.Intake.Auth;
using Platform.Intake.ProviderKeys;
using Platform.Intake.Submission;

namespace Platform.Intake.Endpoints;

public sealed record CreateUserRequest(string? UserId, string? Tier);

public sealed record ChangeTierRequest(string? Tier);

public sealed record CreatedUser(string UserId, string Tier, string ApiKey);

/// <summary><see cref="ProviderKey"/> is null while the user has none; <see cref="Concurrency"/> counts the own-key slots while it is active.</summary>
/// <param name="Usage">The provider tokens of the user's tasks this month, reset with <paramref name="UsedThisMonth"/>.</param>
public sealed record UserView(string UserId, string Tier, int Concurrency, int? MonthlyQuota, int UsedThisMonth, int Reserved,
    UsageTotal? Usage = null, ProviderKeyView? ProviderKey = null);

public static partial class UserEndpoints
{
    public const int MaxUserIdLength = 64;

    public static void MapUserEndpoints(this IEndpointRouteBuilder app)
    {
        var users = app.MapGroup("/v1/users").RequireAuthorization();
        users.MapPost("/", Create).RequireAuthorization(IntakeExtensions.AdminPolicy);
        users.MapPut("/{userId}/tier", ChangeTier).RequireAuthorization(IntakeExtensions.AdminPolicy);
        users.MapGet("/{userId}", Get);
    }

    static async Task<IResult> Create(CreateUserRequest request, PlatformDbContext db, IOptionsMonitor<TierOptions> tiers,
        TimeProvider clock, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(request.UserId))
            return Problems.Field("userId", "userId is required");
        if (!UserIdPattern().IsMatch(request.UserId))
            return Problems.Field("userId", $"userId must be 1 to {MaxUserIdLength} characters of letters, digits, '.', '_' or '-'");
        if (TierError(request.Tier, tiers.CurrentValue) is { } tierError)
            return Problems.Field("tier", tierError);

        var apiKey = ApiKeys.New();
        var now = clock.GetUtcNow();
        db.Users.Add(new User
        {
            UserId = request.UserId,
            Tier = request.Tier!.ToLowerInvariant(),
            ApiKeyHash = ApiKeys.Hash(apiKey),
            CreatedAt = now,
            QuotaMonth = Quota.Month(now),
        });
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            return Problems.Conflict($"user '{request.UserId}' already exists");
        }

        return Results.Created($"/v1/users/{request.UserId}", new CreatedUser(request.UserId, request.Tier.ToLowerInvariant(), apiKey));
    }

    static async Task<IResult> ChangeTier(string userId, ChangeTierRequest request, PlatformDbContext db, IOptionsMonitor<TierOptions> tiers,
        TimeProvider clock, CancellationToken cancellationToken)
    {
        if (TierError(request.Tier, tiers.CurrentValue) is { } tierError)
            return Problems.Field("tier", tierError);

        // Taking the dispatch lock waits out a decision in progress, so once this answers, every decision uses the
        // new tier: a downgrade can never be overtaken by a decision that read the old one.
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        await DispatchLock.Acquire(db, userId, cancellationToken);
        var user = await db.Users.SingleOrDefaultAsync(u => u.UserId == userId, cancellationToken);
        if (user is null)
            return Problems.NotFound($"user '{userId}' does not exist");

        user.Tier = request.Tier!.ToLowerInvariant();
        // The dispatcher reads the tier from the row at its next decision; the event makes that decision happen now.
        db.Publish(new UserTierChanged(user.UserId, user.Tier, user.OwnProviderKey, clock.GetUtcNow()));
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        var key = await db.ProviderKeys.AsNoTracking().SingleOrDefaultAsync(k => k.UserId == userId, cancellationToken);
        return Results.Ok(View(user, key, tiers.CurrentValue));
    }

    static async Task<IResult> Get(string userId, HttpContext http, PlatformDbContext db, IOptionsMonitor<TierOptions> tiers,
        TimeProvider clock, CancellationToken cancellationToken)
    {
        if (!http.User.IsAdmin() && http.User.UserId() != userId)
            return Problems.NotFound($"user '{userId}' does not exist");

        var user = await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.UserId == userId, cancellationToken);
        if (user is null)
            return Problems.NotFound($"user '{userId}' does not exist");

        // A new month starts fresh even before the first write of that month.
        if (user.QuotaMonth != Quota.Month(clock.GetUtcNow()))
        {
            user.UsedThisMonth = 0;
            user.PromptTokensThisMonth = 0;
            user.CompletionTokensThisMonth = 0;
        }

        var key = await db.ProviderKeys.AsNoTracking().SingleOrDefaultAsync(k => k.UserId == userId, cancellationToken);
        return Results.Ok(View(user, key, tiers.CurrentValue));
    }

    static UserView View(User user, ProviderKey? key, TierOptions tiers) =>
        new(user.UserId, user.Tier, tiers.ConcurrencyOf(user.Tier, user.OwnProviderKey),
            tiers.Get(user.Tier).MonthlyQuota, user.UsedThisMonth, user.Reserved,
            new UsageTotal(user.PromptTokensThisMonth, user.CompletionTokensThisMonth), ProviderKeyView.Of(key));

    static string? TierError(string? tier, TierOptions tiers) =>
        string.IsNullOrWhiteSpace(tier) ? $"tier is required: one of {string.Join(", ", tiers.Tiers.Keys)}"
        : !tiers.Exists(tier) ? $"tier '{tier}' is unknown: use one of {string.Join(", ", tiers.Tiers.Keys)}"
        : null;

    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex UserIdPattern();
}
