using Microsoft.EntityFrameworkCore;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Tiers;

namespace Platform.Intake.Endpoints;

/// <summary>A batch's live counters and ETA. Terminal counts come from the batch saga; running from the task rows (bounded by the tier).</summary>
public static class BatchProgress
{
    /// <summary>How many of the user's most recent task durations the ETA averages.</summary>
    const int DurationSample = 50;

    public static async Task<BatchView> View(PlatformDbContext db, Batch batch, TierOptions tiers, CancellationToken cancellationToken)
    {
        var saga = await db.BatchStates.AsNoTracking().SingleOrDefaultAsync(s => s.CorrelationId == batch.BatchId, cancellationToken);
        var running = await db.Tasks.CountAsync(t => t.BatchId == batch.BatchId && t.Status == TaskStatuses.Running, cancellationToken);
        var completed = saga?.Completed ?? 0;
        var failed = saga?.Failed ?? 0;
        var cancelled = saga?.Cancelled ?? 0;
        var queued = Queued(batch, running, completed, failed, cancelled);
        var status = StatusOf(batch, saga?.CurrentState);

        double? eta = null;
        if (queued + running == 0)
        {
            eta = 0;
        }
        else if (await AverageTaskSeconds(db, batch.UserId, cancellationToken) is { } average)
        {
            var user = await db.Users.AsNoTracking().SingleAsync(u => u.UserId == batch.UserId, cancellationToken);
            var concurrency = tiers.ConcurrencyOf(user.Tier, user.OwnProviderKey);
            eta = Eta(queued + running, concurrency, average);
        }

        return new BatchView(batch.BatchId, batch.Name, status, batch.Total, queued, running, completed, failed, cancelled,
            batch.CreatedAt, saga?.StartedAt, saga?.FinishedAt, eta, await Usage(db, batch.BatchId, cancellationToken));
    }

    /// <summary>
    /// The provider tokens of the batch's completed tasks, summed from their rows (the index on batch and status finds
    /// them); null when none ran on a provider. Summed here rather than counted on the batch's row: the completion's
    /// transaction would then lock the batch row after the task's, against the order of a cancellation's backstop.
    /// </summary>
    static async Task<UsageTotal?> Usage(PlatformDbContext db, Guid batchId, CancellationToken cancellationToken)
    {
        var sums = await db.Tasks.Where(t => t.BatchId == batchId && t.Status == TaskStatuses.Completed && t.PromptTokens != null)
            .GroupBy(t => t.BatchId)
            .Select(g => new UsageTotal(g.Sum(t => (long)t.PromptTokens!.Value), g.Sum(t => (long)(t.CompletionTokens ?? 0))))
            .SingleOrDefaultAsync(cancellationToken);
        return sums;
    }

    /// <summary>Tasks not yet dispatched: the rest of the batch, from the saga's terminal counts and the running rows.</summary>
    public static int Queued(Batch batch, int running, int completed, int failed, int cancelled) =>
        // A cancellation ends every queued task in the transaction that requests it: none is queued after it, even
        // before the saga has counted them all.
        batch.CancelRequestedAt is null ? Math.Max(0, batch.Total - running - completed - failed - cancelled) : 0;

    /// <summary>
    /// The batch's API status: the saga's state, except that a batch whose cancellation was requested is
    /// <c>cancelling</c> until the saga has counted its last task (then <c>cancelled</c>, or whatever it ended as).
    /// </summary>
    public static string StatusOf(Batch batch, string? sagaState)
    {
        var status = sagaState is null or "" or "Initial" ? BatchStatuses.Queued : Naming.ToSnakeCase(sagaState);
        var finished = status is BatchStatuses.Completed or BatchStatuses.CompletedWithFailures or BatchStatuses.Cancelled;
        return batch.CancelRequestedAt is not null && !finished ? BatchStatuses.Cancelling : status;
    }

    /// <summary>Seconds until <paramref name="remaining"/> tasks are done: rounds of <paramref name="concurrency"/> tasks of the observed average.</summary>
    public static double Eta(int remaining, int concurrency, double averageSeconds) =>
        remaining == 0 ? 0 : Math.Round(Math.Ceiling(remaining / (double)Math.Max(1, concurrency)) * averageSeconds, 1);

    /// <summary>Mean duration of the user's last completed tasks; null before the first one.</summary>
    public static async Task<double?> AverageTaskSeconds(PlatformDbContext db, string userId, CancellationToken cancellationToken)
    {
        var recent = await db.Tasks.AsNoTracking()
            .Where(t => t.UserId == userId && t.Status == TaskStatuses.Completed && t.StartedAt != null && t.FinishedAt != null)
            .OrderByDescending(t => t.FinishedAt)
            .Take(DurationSample)
            .Select(t => new { t.StartedAt, t.FinishedAt })
            .ToListAsync(cancellationToken);
        return recent.Count == 0 ? null : recent.Average(t => (t.FinishedAt!.Value - t.StartedAt!.Value).TotalSeconds);
    }
}
