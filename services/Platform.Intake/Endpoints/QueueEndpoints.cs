using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Tiers;
using Platform.Intake.Auth;
using Platform.Intake.OpenApi;

namespace Platform.Intake.Endpoints;

/// <summary>One of the user's desks: idle, or the task that holds it (dispatched, or running since <c>StartedAt</c>).</summary>
public sealed record SlotView(int Slot, Guid? TaskId, Guid? BatchId, string? Key, DateTimeOffset? DispatchedAt, DateTimeOffset? StartedAt);

public sealed record QueueBatchView(Guid BatchId, string Name, [property: AllowedValues(BatchStatuses.Queued, BatchStatuses.Running, BatchStatuses.Cancelling, BatchStatuses.Completed, BatchStatuses.CompletedWithFailures, BatchStatuses.Cancelled)] string Status, int Queued, int Running, int Completed, int Failed, int Total);

public sealed record QueueView(
    [property: TierName] string Tier,
    int Concurrency,
    int Running,
    int Queued,
    double? EtaSeconds,
    IReadOnlyList<SlotView> Slots,
    IReadOnlyList<QueueBatchView> Batches);

/// <summary><c>GET /v1/queue</c>: the caller's work queue — desks, unfinished batches and an ETA from their observed task durations.</summary>
public static class QueueEndpoints
{
    /// <summary>How many unfinished batches the view lists (oldest first: they are served first by round-robin anyway).</summary>
    public const int MaxBatches = 100;

    public static void MapQueueEndpoints(this IEndpointRouteBuilder app) =>
        app.MapGet("/v1/queue", Get).RequireAuthorization(IntakeExtensions.UserPolicy).WithTags("queue")
            .WithSummary("Get the caller's work queue")
            .WithDescription($"The caller's desks (one per slot: idle, or the task holding it), their unfinished batches (at most {MaxBatches}, " +
                "oldest first) and an ETA for all of it.")
            .Answers<QueueView>(StatusCodes.Status200OK, "The queue.");

    static async Task<IResult> Get(HttpContext http, PlatformDbContext db, IOptionsMonitor<TierOptions> tiers, CancellationToken cancellationToken)
    {
        var userId = http.User.UserId()!;
        var view = await Read(db, tiers.CurrentValue, userId, cancellationToken);
        return view is null ? Problems.NotFound($"user '{userId}' does not exist") : Results.Ok(view);
    }

    /// <summary>The user's queue as <c>GET /v1/queue</c> answers it (and <c>GET /v1/events</c> sends it); null for an unknown user.</summary>
    public static async Task<QueueView?> Read(PlatformDbContext db, TierOptions tiers, string userId, CancellationToken cancellationToken)
    {
        var user = await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.UserId == userId, cancellationToken);
        if (user is null)
            return null;
        var concurrency = tiers.ConcurrencyOf(user.Tier, user.OwnProviderKey);

        // Bounded by the tier (a downgrade may leave a few more in flight until they finish).
        var holding = await db.Tasks.AsNoTracking()
            .Where(t => t.UserId == userId && t.Status == TaskStatuses.Running)
            .Select(t => new { t.TaskId, t.BatchId, t.Key, t.Slot, t.DispatchedAt, t.StartedAt })
            .ToListAsync(cancellationToken);
        var slots = Enumerable.Range(0, concurrency)
            .Select(slot => new SlotView(slot, null, null, null, null, null))
            .ToDictionary(s => s.Slot);
        foreach (var task in holding)
            slots[task.Slot ?? -1] = new SlotView(task.Slot ?? -1, task.TaskId, task.BatchId, task.Key, task.DispatchedAt, task.StartedAt);

        // Counters come from the batch saga (terminal) and the task rows (running): never a count over the backlog.
        var unfinished = await (
                from b in db.Batches.AsNoTracking()
                join s in db.BatchStates.AsNoTracking() on b.BatchId equals s.CorrelationId into states
                from s in states.DefaultIfEmpty()
                where b.UserId == userId && (s == null || s.FinishedAt == null)
                orderby b.CreatedAt
                select new { Batch = b, State = s == null ? null : s.CurrentState, Completed = s == null ? 0 : s.Completed, Failed = s == null ? 0 : s.Failed, Cancelled = s == null ? 0 : s.Cancelled })
            .Take(MaxBatches)
            .ToListAsync(cancellationToken);
        var runningByBatch = holding.GroupBy(t => t.BatchId).ToDictionary(g => g.Key, g => g.Count());
        var batches = unfinished.Select(b =>
        {
            var running = runningByBatch.GetValueOrDefault(b.Batch.BatchId);
            var queued = BatchProgress.Queued(b.Batch, running, b.Completed, b.Failed, b.Cancelled);
            return new QueueBatchView(b.Batch.BatchId, b.Batch.Name, BatchProgress.StatusOf(b.Batch, b.State), queued, running, b.Completed, b.Failed,
                b.Batch.Total);
        }).ToList();

        var queuedTotal = batches.Sum(b => b.Queued);
        double? eta = queuedTotal + holding.Count == 0 ? 0
            : await BatchProgress.AverageTaskSeconds(db, userId, cancellationToken) is { } average
                ? BatchProgress.Eta(queuedTotal + holding.Count, concurrency, average)
                : null;

        return new QueueView(user.Tier, concurrency, holding.Count, queuedTotal, eta,
            slots.Values.OrderBy(s => s.Slot).ToList(), batches);
    }
}
