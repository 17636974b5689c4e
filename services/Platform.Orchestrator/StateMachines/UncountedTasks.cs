using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Platform.Contracts;
using Platform.Data;
using Platform.Orchestrator.Dispatch;

namespace Platform.Orchestrator.StateMachines;

/// <summary>
/// Repairs a batch saga that missed the news that tasks ended: a <see cref="BatchTasksEnded"/> lost between a worker's
/// commit and its publish, or an event whose retries ran out during a database outage. A batch with a task that is
/// terminal but still not counted after <see cref="ReconcilerOptions.RecountAfter"/> gets one
/// <see cref="BatchTasksEnded"/>, and the saga counts every ended task of it from the rows; one that arrives after all
/// counts nothing. A batch whose saga was never created (its BatchSubmitted was lost) gets its BatchSubmitted again
/// first. Bounded per pass, and by the partial index on uncounted terminal tasks: nothing uncounted, nothing read.
/// </summary>
public sealed partial class UncountedTasks(PlatformDbContext db, IOptions<ReconcilerOptions> options, TimeProvider clock, ILogger<UncountedTasks> logger)
{
    /// <summary>Batches recounted per pass, those uncounted longest first; the rest wait for the next pass.</summary>
    public const int BatchSize = 100;

    /// <summary>Publishes a recount for each batch that has tasks ended and uncounted for too long; returns how many batches.</summary>
    public async Task<int> Republish(CancellationToken cancellationToken)
    {
        var cutoff = clock.GetUtcNow() - options.Value.RecountAfter;
        // ix_tasks_uncounted (finished_at, partial): only tasks ended and uncounted for longer than the delay are read.
        var batches = await db.Database.SqlQuery<Uncounted>($"""
            SELECT u.batch_id AS "BatchId", b.user_id AS "UserId", u.tasks::int AS "Tasks", u.last_finished_at AS "LastFinishedAt",
                   s.correlation_id IS NOT NULL AS "SagaExists", b.name AS "BatchName", b.total AS "Total", b.created_at AS "CreatedAt"
            FROM (SELECT t.batch_id, count(*) AS tasks, min(t.finished_at) AS first_finished_at, max(t.finished_at) AS last_finished_at
                  FROM tasks t
                  WHERE NOT t.counted AND t.status IN ('completed', 'failed', 'cancelled') AND t.finished_at < {cutoff}
                  GROUP BY t.batch_id
                  ORDER BY first_finished_at
                  LIMIT {BatchSize}) u
            JOIN batches b ON b.batch_id = u.batch_id
            LEFT JOIN batch_states s ON s.correlation_id = u.batch_id
            ORDER BY u.first_finished_at
            """).ToListAsync(cancellationToken);
        if (batches.Count == 0)
            return 0;

        foreach (var batch in batches.Where(b => !b.SagaExists))
            db.Publish(new BatchSubmitted(batch.BatchId, batch.UserId, batch.BatchName, batch.Total, batch.CreatedAt));

        foreach (var batch in batches)
            db.Publish(new BatchTasksEnded(batch.BatchId, batch.UserId, batch.LastFinishedAt));

        await db.SaveChangesAsync(cancellationToken);
        LogRepublished(logger, batches.Sum(b => b.Tasks), batches.Count);
        return batches.Count;
    }

    sealed record Uncounted(Guid BatchId, string UserId, int Tasks, DateTimeOffset LastFinishedAt, bool SagaExists, string BatchName, int Total,
        DateTimeOffset CreatedAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Tasks} terminal task(s) of {Batches} batch(es) were never counted by their saga: their batches are recounted")]
    static partial void LogRepublished(ILogger logger, int tasks, int batches);
}
