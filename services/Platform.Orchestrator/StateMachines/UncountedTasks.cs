using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Platform.Contracts;
using Platform.Data;
using Platform.Orchestrator.Dispatch;

namespace Platform.Orchestrator.StateMachines;

/// <summary>
/// Repairs a batch saga that missed a task's terminal event (its retries ran out during a database outage and the
/// event went to <c>batch-state_error</c>, or it was lost some other way): a task that is terminal but still not counted
/// after <see cref="ReconcilerOptions.RecountAfter"/> gets its event published again, built from the row. The saga's
/// ledger makes a copy that arrives after all a no-op. A batch whose saga was never created (its BatchSubmitted was
/// lost) gets its BatchSubmitted again first. Bounded per pass and by a partial index on uncounted terminal tasks.
/// </summary>
public sealed partial class UncountedTasks(PlatformDbContext db, IOptions<ReconcilerOptions> options, TimeProvider clock, ILogger<UncountedTasks> logger)
{
    public const int BatchSize = 500;

    public async Task<int> Republish(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var cutoff = now - options.Value.RecountAfter;
        var rows = await db.Database.SqlQuery<Uncounted>($"""
            SELECT t.task_id AS "TaskId", t.batch_id AS "BatchId", t.user_id AS "UserId", t.status AS "Status", t.slot AS "Slot",
                   t.attempts AS "Attempts", t.error AS "Error", t.started_at AS "StartedAt", t.finished_at AS "FinishedAt",
                   s.correlation_id IS NOT NULL AS "SagaExists", b.name AS "BatchName", b.total AS "Total", b.created_at AS "CreatedAt"
            FROM tasks t
            JOIN batches b ON b.batch_id = t.batch_id
            LEFT JOIN batch_states s ON s.correlation_id = t.batch_id
            WHERE NOT t.counted AND t.status IN ('completed', 'failed', 'cancelled') AND t.finished_at < {cutoff}
            ORDER BY t.finished_at
            LIMIT {BatchSize}
            """).ToListAsync(cancellationToken);
        if (rows.Count == 0)
            return 0;

        foreach (var batch in rows.Where(r => !r.SagaExists).DistinctBy(r => r.BatchId))
            db.Publish(new BatchSubmitted(batch.BatchId, batch.UserId, batch.BatchName, batch.Total, batch.CreatedAt));

        foreach (var t in rows)
        {
            var finishedAt = t.FinishedAt ?? now;
            db.Publish<object>(t.Status switch
            {
                "completed" => new TaskCompleted(t.TaskId, t.BatchId, t.UserId, t.Slot ?? -1, t.StartedAt ?? finishedAt, finishedAt),
                "failed" => new TaskFailed(t.TaskId, t.BatchId, t.UserId, t.Slot, t.Error ?? "failed", t.Attempts, finishedAt),
                _ => new TaskCancelled(t.TaskId, t.BatchId, t.UserId, t.Slot, finishedAt),
            });
        }

        await db.SaveChangesAsync(cancellationToken);
        LogRepublished(logger, rows.Count, rows.Select(r => r.BatchId).Distinct().Count());
        return rows.Count;
    }

    sealed record Uncounted(Guid TaskId, Guid BatchId, string UserId, string Status, int? Slot, int Attempts, string? Error,
        DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, bool SagaExists, string BatchName, int Total, DateTimeOffset CreatedAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Tasks} terminal task(s) of {Batches} batch(es) were never counted by their saga: their events are published again")]
    static partial void LogRepublished(ILogger logger, int tasks, int batches);
}
