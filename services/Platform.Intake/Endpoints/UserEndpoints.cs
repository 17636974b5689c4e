using System.ComponentModel;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using Platform.Contracts;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Tiers;
using Platform.Intake.Auth;
using Platform.Intake.OpenApi;
using Platform.Intake.ProviderKeys;
using Platform.Intake.Submission;

namespace Platform.Intake.Endpoints;

public sealed record CreateUserRequest(
    [property: Description("1 to 64 letters, digits, '.', '_' or '-'.")] string? UserId,
    [property: TierName, Description("One of the configured tiers (case-insensitive; stored lower case).")] string? Tier);

public sealed record ChangeTierRequest([property: TierName] string? Tier);

public sealed record CreatedUser(
    string UserId,
    [property: TierName] string Tier,
    [property: Description("The user's API key. Shown only here (and when rotated): only its hash is stored.")] string ApiKey);

/// <summary><see cref="ProviderKey"/> is null while the user has none; <see cref="Concurrency"/> counts the own-key slots while it is active.</summary>
public sealed record UserView(
    string UserId,
    [property: TierName] string Tier,
    [property: Description("Tasks the user may have in flight at once (slots); the tier's own-key figure while the user's provider key is active.")] int Concurrency,
    [property: Description("Tasks a month; null: unlimited.")] int? MonthlyQuota,
    int UsedThisMonth,
    [property: Description("Tasks of unfinished batches, reserved against the quota.")] int Reserved,
    [property: Description("The provider tokens of the user's tasks this month, reset with usedThisMonth.")] UsageTotal? Usage = null,
    [property: Description("The user's own provider key (only its hint), or null.")] ProviderKeyView? ProviderKey = null);

/// <summary>One user in the admin's list: a row of <c>GET /v1/users</c>.</summary>
public sealed record UserSummary(
    string UserId,
    [property: TierName] string Tier,
    [property: Description("Tasks the user may have in flight at once (slots).")] int Concurrency,
    [property: Description("Tasks a month; null: unlimited.")] int? MonthlyQuota,
    int UsedThisMonth);

public sealed record RotatedApiKey([property: Description("The new key; the previous one no longer authenticates.")] string ApiKey);

public static partial class UserEndpoints
{
    public const int MaxUserIdLength = 64;

    public static void MapUserEndpoints(this IEndpointRouteBuilder app)
    {
        var users = app.MapGroup("/v1/users").RequireAuthorization().WithTags("users");

        users.MapPost("/", Create).RequireAuthorization(IntakeExtensions.AdminPolicy)
            .WithSummary("Create a user")
            .WithDescription("Creates a user on a tier and issues their API key, shown once in the answer.")
            .ReadsJsonBody(new CreateUserRequest("acme-research", "pro"))
            .Answers(StatusCodes.Status201Created, "The user, with its API key; `Location` is the user's URL.",
                new CreatedUser("acme-research", "pro", "pk_3q2V7cYb0oN2m4d3tF1kXwZL9u8sR5eA6hJ0pQyTgIc"))
            .FieldProblem(StatusCodes.Status400BadRequest, "`userId` or `tier` is missing or invalid; `errors` names the field.",
                EndpointDocs.ProblemExample("validation", 400, "The request is invalid", "tier", "tier 'gold' is unknown: use one of free, starter, pro, enterprise"))
            .Problem(StatusCodes.Status409Conflict, "A user with this `userId` already exists (problem type `https://platform.local/problems/conflict`).");

        users.MapGet("/", List).RequireAuthorization(IntakeExtensions.AdminPolicy)
            .WithSummary("List the users")
            .WithDescription("Every user with their tier, slots and this month's quota use, ordered by `userId`.")
            .Answers(StatusCodes.Status200OK, "A page of users.", new Page<UserSummary>(
                [new UserSummary("acme-research", "pro", 10, 5000, 1234), new UserSummary("globex", "free", 1, 50, 0)], 2))
            .FieldProblem(StatusCodes.Status400BadRequest, "`offset` or `limit` out of range (`limit` 1 to 1000); `errors` names the parameter.");

        users.MapPut("/{userId}/tier", ChangeTier).RequireAuthorization(IntakeExtensions.AdminPolicy)
            .WithSummary("Change a user's tier")
            .WithDescription("Takes effect on the user's next dispatch decision (within a second); in-flight tasks above a lower tier finish.")
            .ReadsJsonBody(new ChangeTierRequest("enterprise"))
            .Answers<UserView>(StatusCodes.Status200OK, "The user with the new tier.")
            .FieldProblem(StatusCodes.Status400BadRequest, "`tier` is missing or unknown; `errors` names the field.")
            .Problem(StatusCodes.Status404NotFound, "No user with this id (problem type `https://platform.local/problems/not-found`).");

        users.MapGet("/{userId}", Get)
            .WithSummary("Get a user")
            .WithDescription("The user's tier, slots, this month's quota use and provider tokens, and their own provider key (as a hint). The admin sees every user; a user sees only themself.")
            .Answers(StatusCodes.Status200OK, "The user.", new UserView("acme-research", "pro", 20, 5000, 1234, 250, new UsageTotal(412_000, 96_500),
                new ProviderKeyView("…abcd", "https://api.openai.com/v1", "gpt-4o-mini", "active", null, null)))
            .Problem(StatusCodes.Status404NotFound,
                "No such user, or another user's id (answered exactly alike; problem type `https://platform.local/problems/not-found`).");

        users.MapPost("/{userId}/api-key", RotateApiKey)
            .WithSummary("Rotate a user's API key")
            .WithDescription("Issues a new API key, shown once in the answer. The previous key answers 401 from this moment on. " +
                "The admin may rotate any user's key; a user only their own.")
            .Answers(StatusCodes.Status200OK, "The new key.", new RotatedApiKey("pk_Zr8xN1c4Vb7mQ2w5Ee9tY3u6Ii0oP4aS8dF2gH6jK1l"))
            .Problem(StatusCodes.Status404NotFound,
                "No such user, or another user's id (answered exactly alike; problem type `https://platform.local/problems/not-found`).");
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

    static async Task<IResult> List(PlatformDbContext db, IOptionsMonitor<TierOptions> tiers, TimeProvider clock,
        [Description("Items to skip (default 0).")] int? offset, [Description("Page size, 1 to 1000 (default 100).")] int? limit,
        CancellationToken cancellationToken)
    {
        if (offset < 0)
            return Problems.Field("offset", $"offset must be an integer from 0 to {int.MaxValue}; got {offset}");
        if (limit is < 1 or > BatchEndpoints.MaxPageSize)
            return Problems.Field("limit", $"limit must be an integer from 1 to {BatchEndpoints.MaxPageSize}; got {limit}");

        var month = Quota.Month(clock.GetUtcNow());
        var total = await db.Users.CountAsync(cancellationToken);
        var page = await db.Users.AsNoTracking().OrderBy(u => u.UserId).Skip(offset ?? 0).Take(limit ?? BatchEndpoints.DefaultPageSize)
            .Select(u => new { u.UserId, u.Tier, u.OwnProviderKey, u.QuotaMonth, u.UsedThisMonth })
            .ToListAsync(cancellationToken);
        var current = tiers.CurrentValue;
        // A new month starts fresh even before the first write of that month, as GET /v1/users/{userId} says.
        return Results.Ok(new Page<UserSummary>(page.Select(u => new UserSummary(u.UserId, u.Tier, current.Exists(u.Tier) ? current.ConcurrencyOf(u.Tier, u.OwnProviderKey) : 0,
            current.Exists(u.Tier) ? current.Get(u.Tier).MonthlyQuota : null, u.QuotaMonth == month ? u.UsedThisMonth : 0)).ToList(), total));
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

    /// <summary>The old key stops working with this one statement: authentication looks the key's hash up on every request.</summary>
    static async Task<IResult> RotateApiKey(string userId, HttpContext http, PlatformDbContext db, CancellationToken cancellationToken)
    {
        if (!http.User.IsAdmin() && http.User.UserId() != userId)
            return Problems.NotFound($"user '{userId}' does not exist");

        var apiKey = ApiKeys.New();
        var hash = ApiKeys.Hash(apiKey);
        var rotated = await db.Users.Where(u => u.UserId == userId)
            .ExecuteUpdateAsync(u => u.SetProperty(x => x.ApiKeyHash, hash), cancellationToken);
        return rotated == 0 ? Problems.NotFound($"user '{userId}' does not exist") : Results.Ok(new RotatedApiKey(apiKey));
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
