using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Platform.Contracts;
using Platform.Data;
using Platform.Data.Model;

namespace Platform.Orchestrator.Dispatch;

/// <summary>
/// The limits a task's attempts run under. The same <c>Platform:Worker</c> keys the workers read, so one setting
/// drives both sides.
/// </summary>
public sealed class TaskRunLimits
{
    public const string Section = "Platform:Worker";

    /// <summary>
    /// An attempt running (or dispatched and not started) longer than this is taken back. Keep it below RabbitMQ's
    /// <c>consumer_timeout</c> (1 h in infra/local.sh and docker-compose.yml), which would otherwise close the channel first.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan MaxRunTime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Attempts a task gets; an overdue attempt that was the last one fails the task.</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 3;

    /// <summary>How long an overdue task waits before it is dispatched again.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// Takes back attempts that ran past <see cref="TaskRunLimits.MaxRunTime"/> (a hung worker, a lost ExecuteTask, a fault
/// that was never handled): queued again with a <c>not_before</c> and no slot, or failed once its attempts are used up,
/// with the quota and event a worker would have written, in one transaction. Conditional on <c>status = 'running'</c>,
/// with the rows locked <c>SKIP LOCKED</c>, so every orchestrator can run it; the worker that may still be running the
/// attempt then finds nothing to update (its claim's attempt number no longer matches or the task is not running).
/// Bounded per pass, and by the tasks in flight (a partial index), never by the table.
/// </summary>
public sealed partial class OverdueTasks(PlatformDbContext db, IOptions<TaskRunLimits> limits, TimeProvider clock, ILogger<OverdueTasks> logger)
{
    public const int BatchSize = 100;

    public async Task<int> TakeBack(CancellationToken cancellationToken)
    {
        var o = limits.Value;
        var now = clock.GetUtcNow();
        var cutoff = now - o.MaxRunTime;
        var notBefore = now + o.RetryBaseDelay;
        var error = $"the attempt ran longer than the maximum run time ({o.MaxRunTime})";

        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        // started_at >= dispatched_at, so the index on dispatched_at finds every candidate.
        var rows = await db.Database.SqlQuery<Overdue>($"""
            WITH overdue AS (
                SELECT task_id FROM tasks
                WHERE status = 'running' AND dispatched_at < {cutoff} AND COALESCE(started_at, dispatched_at) < {cutoff}
                  -- A batch being cancelled ends its running tasks cancelled (BatchCancellation), never queued again.
                  AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.batch_id = tasks.batch_id AND b.cancel_requested_at IS NOT NULL)
                ORDER BY dispatched_at
                LIMIT {BatchSize}
                FOR UPDATE SKIP LOCKED)
            UPDATE tasks t SET
                status = CASE WHEN t.attempts >= {o.MaxAttempts} THEN 'failed' ELSE 'queued' END,
                slot = CASE WHEN t.attempts >= {o.MaxAttempts} THEN t.slot END,
                not_before = CASE WHEN t.attempts >= {o.MaxAttempts} THEN t.not_before ELSE {notBefore} END,
                finished_at = CASE WHEN t.attempts >= {o.MaxAttempts} THEN {now} END,
                error = {error}
            FROM overdue
            WHERE t.task_id = overdue.task_id AND t.status = 'running'
            RETURNING t.task_id AS "TaskId", t.batch_id AS "BatchId", t.user_id AS "UserId", t.status AS "Status",
                      t.attempts AS "Attempts", t.slot AS "Slot"
            """).ToListAsync(cancellationToken);
        if (rows.Count == 0)
            return 0;

        foreach (var user in rows.Where(r => r.Status == TaskStatuses.Failed).GroupBy(r => r.UserId).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            await Quota.Release(db, user.Key, user.Count(), cancellationToken);
        }

        var requeuedBatches = rows.Where(r => r.Status == TaskStatuses.Queued).Select(r => r.BatchId).Distinct().ToArray();
        if (requeuedBatches.Length > 0)
        {
            // Queued again: their batches are back in the dispatcher's view.
            await db.Database.ExecuteSqlAsync($"UPDATE batches SET open = true WHERE batch_id = ANY({requeuedBatches}) AND NOT open", cancellationToken);
        }

        foreach (var row in rows)
        {
            if (row.Status == TaskStatuses.Failed)
                db.Publish(new TaskFailed(row.TaskId, row.BatchId, row.UserId, row.Slot, error, row.Attempts, now));
            else
                db.Publish(new TaskRetrying(row.TaskId, row.BatchId, row.UserId, row.Attempts, notBefore, error, now));
            LogTakenBack(logger, row.TaskId, row.Attempts, row.Status);
        }

        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return rows.Count;
    }

    sealed record Overdue(Guid TaskId, Guid BatchId, string UserId, string Status, int Attempts, int? Slot);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId} exceeded the maximum run time on attempt {Attempt}: now {Status}")]
    static partial void LogTakenBack(ILogger logger, Guid taskId, int attempt, string status);
}
