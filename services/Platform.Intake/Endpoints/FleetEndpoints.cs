using System.ComponentModel;
using Microsoft.Extensions.Options;
using Platform.Data;
using Platform.Data.Tiers;
using Platform.Intake.OpenApi;

namespace Platform.Intake.Endpoints;

public sealed record FleetWorkerView(
    [property: Description("The worker instance (host:pid), as written on the tasks it claims.")] string Worker,
    [property: Description("Tasks it runs at once.")] int Capacity,
    [property: Description("Tasks in flight that it claimed.")] int Running,
    DateTimeOffset StartedAt,
    DateTimeOffset HeartbeatAt,
    [property: Description("Counted in the fleet's capacity: heartbeat younger than `Platform:Fleet:WorkerTimeout` and not stopping.")] bool Live);

public sealed record FleetShareView(
    string UserId,
    [property: TierName] string Tier,
    [property: Description("The tier's weight in a fair share of the fleet (`Platform:Tiers:<tier>:Weight`, by default its slots).")] double Weight,
    [property: Description("Tasks the user may have in flight at once.")] int Slots,
    int Running,
    [property: Description("Tasks of the user's unfinished batches not yet dispatched.")] int Queued,
    [property: Description("The user's fair share of the fleet's capacity, in units of capacity (tasks at once, fractional): proportional to its weight, at most " +
        "min(slots, running + queued), what others cannot use shared out; computed over every user with work, listed or not.")] double FairShare);

public sealed record FleetCredentialView(
    [property: Description("The key's last four characters (`…abcd`): the platform's own key, or a user's. Never the key.")] string? KeyHint,
    [property: Description("Requests per minute: configured (`Platform:Provider:Rpm`) or learned from the provider's `x-ratelimit-limit-requests`; null while unknown.")] int? Rpm,
    [property: Description("Tokens per minute, likewise (`Platform:Provider:Tpm`, `x-ratelimit-limit-tokens`).")] int? Tpm,
    [property: Description("Requests the trailing minute holds: sent and reserved for tasks in flight.")] int RequestsUsed,
    [property: Description("Tokens the trailing minute holds: used (as the provider counted) and reserved for tasks in flight.")] int TokensUsed,
    [property: Description("A 429 paused the credential: no task is dispatched on it before this time.")] DateTimeOffset? PausedUntil);

public sealed record FleetView(
    [property: Description("Sum of the live workers' capacity.")] int Capacity,
    [property: Description("Tasks in flight (dispatched or running) on the whole fleet.")] int Running,
    IReadOnlyList<FleetWorkerView> Workers,
    [property: Description("Provider credentials' budgets: the platform's own key first, then users' keys by tokens used (at most `limit`).")] IReadOnlyList<FleetCredentialView> Credentials,
    [property: Description("Users with work and their fair shares, most running first (at most `limit`).")] IReadOnlyList<FleetShareView> Shares);

/// <summary><c>GET /v1/admin/fleet</c>: the shared worker fleet and who holds it (docs/fair-share.md).</summary>
public static class FleetEndpoints
{
    public const int MaxUsers = 1000;
    public const int DefaultUsers = 100;

    public static void MapFleetEndpoints(this IEndpointRouteBuilder app) =>
        app.MapGet("/v1/admin/fleet", Get).RequireAuthorization(IntakeExtensions.AdminPolicy).WithTags("admin")
            .WithSummary("Get the worker fleet")
            .WithDescription("The fleet's capacity (the live workers' sum) and tasks in flight, every registered worker (a killed one shows " +
                "as not live until the reconciler prunes it), and the users with work with their fair shares of the capacity, most running first " +
                $"(at most `limit`, 1 to {MaxUsers}). `fairShare` is computed over all users with work, not only those listed.")
            .Answers(StatusCodes.Status200OK, "The fleet.", new FleetView(16, 11,
                [
                    new FleetWorkerView("worker-a:4242", 8, 6, new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero),
                        new DateTimeOffset(2026, 12, 1, 9, 30, 0, 400, TimeSpan.Zero), true),
                    new FleetWorkerView("worker-b:4317", 8, 5, new DateTimeOffset(2026, 12, 1, 9, 0, 1, TimeSpan.Zero),
                        new DateTimeOffset(2026, 12, 1, 9, 30, 0, 700, TimeSpan.Zero), true),
                ],
                [
                    new FleetCredentialView("…x9Qk", 500, 200000, 212, 81234, null),
                    new FleetCredentialView("…7f2a", 10000, 2000000, 40, 20480, null),
                ],
                [
                    new FleetShareView("acme-research", "enterprise", 50, 50, 10, 4200, 15.686),
                    new FleetShareView("jane", "free", 1, 1, 1, 0, 0.314),
                ]))
            .FieldProblem(StatusCodes.Status400BadRequest, $"`limit` out of range (1 to {MaxUsers}); `errors` names it.",
                EndpointDocs.ProblemExample("validation", 400, "The request is invalid", "limit", $"limit must be an integer from 1 to {MaxUsers}; got 5000"));

    static async Task<IResult> Get(PlatformDbContext db, IOptions<FleetOptions> fleetOptions, IOptionsMonitor<TierOptions> tiers, TimeProvider clock,
        [Description("Users listed at most, 1 to 1000 (default 100).")] int? limit, CancellationToken cancellationToken)
    {
        if (limit is < 1 or > MaxUsers)
            return Problems.Field("limit", $"limit must be an integer from 1 to {MaxUsers}; got {limit}");

        return Results.Ok(await Read(db, fleetOptions.Value, tiers.CurrentValue, clock.GetUtcNow(), limit ?? DefaultUsers, cancellationToken));
    }

    /// <summary>The fleet's view, as <c>GET /v1/admin/fleet</c> and the admin's event stream send it.</summary>
    public static async Task<FleetView> Read(PlatformDbContext db, FleetOptions fleetOptions, TierOptions tiers, DateTimeOffset now, int limit,
        CancellationToken cancellationToken)
    {
        var fleet = await Fleet.Read(db, fleetOptions.WorkerTimeout, cancellationToken);
        // A share depends on everyone competing, so it is computed before the list is cut to `limit`.
        var users = await Fleet.AllUsers(db, tiers, cancellationToken);
        var shares = FairShares.OfFleet(fleet.Capacity, users);
        var credentials = await CredentialBudgetViews.Read(db, limit, now, cancellationToken);
        return new FleetView(fleet.Capacity, fleet.Running,
            fleet.Workers.Select(w => new FleetWorkerView(w.Worker, w.Capacity, w.Running, w.StartedAt, w.HeartbeatAt, w.Live)).ToList(),
            credentials.Select(c => new FleetCredentialView(c.KeyHint, c.Rpm, c.Tpm, c.RequestsUsed, c.TokensUsed, c.PausedUntil)).ToList(),
            users.Take(limit)
                .Select(u => new FleetShareView(u.UserId, u.Tier, u.Weight, u.Slots, u.Running, u.Queued, Math.Round(shares.GetValueOrDefault(u.UserId), 3)))
                .ToList());
    }
}
