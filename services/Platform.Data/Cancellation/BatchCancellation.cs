using Microsoft.EntityFrameworkCore;
using Platform.Contracts;
using Platform.Data.Model;

namespace Platform.Data.Cancellation;

public abstract record CancelOutcome
{
    /// <summary>This call requested the cancellation: <see cref="QueuedCancelled"/> tasks ended without starting.</summary>
    public sealed record Requested(Guid BatchId, int QueuedCancelled) : CancelOutcome;

    /// <summary>Cancellation was requested before (at <see cref="RequestedAt"/>): nothing changed.</summary>
    public sealed record AlreadyRequested(Guid BatchId, DateTimeOffset RequestedAt) : CancelOutcome;

    /// <summary>Every task had already ended, so there is nothing to cancel; <see cref="Status"/> is the batch's outcome.</summary>
    public sealed record AlreadyFinished(Guid BatchId, string Status) : CancelOutcome;

    /// <summary>No such batch, or another user's (indistinguishable on purpose).</summary>
    public sealed record NotFound(Guid BatchId) : CancelOutcome;
}

/// <summary>A running task that a cancellation ended, as its row says after the transition.</summary>
public sealed record CancelledTask(Guid TaskId, Guid BatchId, string UserId, int? Slot);

/// <summary>
/// Every transition a batch cancellation makes, in one place: the HTTP endpoint and the <see cref="CancelBatch"/>
/// consumer request it, a worker ends its running tasks with it, and the orchestrator's reconciler ends whatever a lost
/// notification or a dead worker left running. The batch row (<see cref="Batch.CancelRequestedAt"/>) is the truth;
/// <see cref="BatchCancellationRequested"/> only tells the workers to look, and the batch saga to count.
/// </summary>
/// <remarks>
/// Lock order, shared with every other writer so that none of them can deadlock with a cancellation: the user's
/// <see cref="DispatchLock"/>, then the batch row, then task rows, then the user row.
/// </remarks>
public static class BatchCancellation
{
    /// <summary>
    /// Requests the cancellation of <paramref name="userId"/>'s batch, in its own transaction: marks the batch, closes
    /// it for dispatch, ends its queued tasks (those waiting for a retry too) cancelled and releases their quota, in one
    /// statement each, and writes the one <see cref="BatchCancellationRequested"/> that every worker and the batch saga
    /// hear (the saga counts the ended tasks from their rows). Asking again changes nothing.
    /// </summary>
    public static async Task<CancelOutcome> Request(PlatformDbContext db, Guid batchId, string userId, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);

        var owner = await db.Database.SqlQuery<string>($"SELECT user_id AS \"Value\" FROM batches WHERE batch_id = {batchId}")
            .ToListAsync(cancellationToken);
        if (owner.SingleOrDefault() != userId)
            return new CancelOutcome.NotFound(batchId);

        // The user's dispatch lock first: a dispatch decision locks the tasks it dispatches and then their batch, so
        // taking the batch row while one runs could deadlock with it. Holding it also means a decision either ran
        // before this commit (its tasks are running, and the workers are told) or runs after it and sees the batch closed.
        await DispatchLock.Acquire(db, userId, cancellationToken);
        var batch = (await db.Database.SqlQuery<LockedBatch>($"""
            SELECT b.cancel_requested_at AS "CancelRequestedAt",
                   EXISTS (SELECT 1 FROM tasks t WHERE t.batch_id = b.batch_id AND t.status IN ({TaskStatuses.Queued}, {TaskStatuses.Running})) AS "Unfinished"
            FROM batches b WHERE b.batch_id = {batchId}
            FOR UPDATE OF b
            """).ToListAsync(cancellationToken)).Single();
        if (batch.CancelRequestedAt is { } earlier)
            return new CancelOutcome.AlreadyRequested(batchId, earlier);
        if (!batch.Unfinished)
            return new CancelOutcome.AlreadyFinished(batchId, await FinishedStatus(db, batchId, cancellationToken));

        await db.Database.ExecuteSqlAsync($"""
            UPDATE batches SET cancel_requested_at = {now}, cancelling = true, open = false WHERE batch_id = {batchId}
            """, cancellationToken);

        // Conditional, like every task transition: a task a dispatch decision already took is running, not queued,
        // and is the workers' to stop. One statement whatever the batch's size: it locks only this batch's rows, which
        // nothing of another user's waits for.
        var queued = await db.Database.ExecuteSqlAsync($"""
            UPDATE tasks SET status = {TaskStatuses.Cancelled}, finished_at = {now}
            WHERE batch_id = {batchId} AND status = {TaskStatuses.Queued}
            """, cancellationToken);

        if (queued > 0)
            await Quota.Release(db, userId, queued, cancellationToken);

        // No TaskCancelled per queued task: they held no slot, and the batch saga counts them from the rows when it
        // hears this (one count, not 10,000 outbox rows and saga transactions). The workers hear it to stop the running ones.
        db.Publish(new BatchCancellationRequested(batchId, userId, now));
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return new CancelOutcome.Requested(batchId, queued);
    }

    /// <summary>
    /// Ends these tasks cancelled if they are still running and their batch's cancellation was requested, releases
    /// their reservations and writes a <see cref="TaskCancelled"/> for each, inside the caller's transaction (the caller
    /// saves and commits). A task that ended meanwhile, or whose batch is not being cancelled, is left alone: a worker
    /// and the reconciler may both try, and only one of them ends the task.
    /// </summary>
    public static async Task<IReadOnlyList<CancelledTask>> EndRunningTasks(PlatformDbContext db, Guid[] taskIds, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        if (db.Database.CurrentTransaction is null)
            throw new InvalidOperationException("A task's cancellation, its quota release and its event commit together: begin a transaction first.");

        var cancelled = await db.Database.SqlQuery<CancelledTask>($"""
            UPDATE tasks t SET status = {TaskStatuses.Cancelled}, finished_at = {now}
            FROM batches b
            WHERE t.task_id = ANY({taskIds}) AND t.status = {TaskStatuses.Running}
              AND b.batch_id = t.batch_id AND b.cancel_requested_at IS NOT NULL
            RETURNING t.task_id AS "TaskId", t.batch_id AS "BatchId", t.user_id AS "UserId", t.slot AS "Slot"
            """).ToListAsync(cancellationToken);

        foreach (var user in cancelled.GroupBy(t => t.UserId))
        {
            await Quota.Release(db, user.Key, user.Count(), cancellationToken);
        }

        foreach (var task in cancelled)
            db.Publish(new TaskCancelled(task.TaskId, task.BatchId, task.UserId, task.Slot, now));
        return cancelled;
    }

    /// <summary>
    /// The backstop for a lost notification or a dead worker: ends the running tasks of every batch whose cancellation
    /// was requested at or before <paramref name="requestedBefore"/>, one batch per transaction, and marks those batches
    /// settled. Safe in every orchestrator instance at once (a batch being settled by one is skipped by the others).
    /// </summary>
    public static async Task<IReadOnlyList<CancelledTask>> EndOverdue(PlatformDbContext db, DateTimeOffset requestedBefore, DateTimeOffset now,
        int maxBatches, CancellationToken cancellationToken)
    {
        var overdue = await db.Batches.AsNoTracking()
            .Where(b => b.Cancelling && b.CancelRequestedAt <= requestedBefore)
            .OrderBy(b => b.CancelRequestedAt)
            .Select(b => b.BatchId)
            .Take(maxBatches)
            .ToListAsync(cancellationToken);

        var ended = new List<CancelledTask>();
        foreach (var batchId in overdue)
        {
            await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
            var locked = await db.Database.SqlQuery<Guid>($"""
                SELECT batch_id AS "Value" FROM batches WHERE batch_id = {batchId} AND cancelling FOR UPDATE SKIP LOCKED
                """).ToListAsync(cancellationToken);
            if (locked.Count == 0)
                continue;

            // Bounded by the user's slots: only tasks that hold one can be running.
            var running = await db.Tasks.Where(t => t.BatchId == batchId && t.Status == TaskStatuses.Running)
                .Select(t => t.TaskId).ToArrayAsync(cancellationToken);
            if (running.Length > 0)
                ended.AddRange(await EndRunningTasks(db, running, now, cancellationToken));

            // Nothing of this batch can start running again (it is closed, and claims and retries check the request),
            // so once this commits the batch needs no further look.
            await db.Database.ExecuteSqlAsync($"UPDATE batches SET cancelling = false WHERE batch_id = {batchId}", cancellationToken);
            await db.SaveChangesAsync(cancellationToken);
            await tx.CommitAsync(cancellationToken);
        }

        return ended;
    }

    sealed record LockedBatch(DateTimeOffset? CancelRequestedAt, bool Unfinished);

    /// <summary>A finished batch's outcome, from its task rows (the saga may not have counted the last one yet).</summary>
    static async Task<string> FinishedStatus(PlatformDbContext db, Guid batchId, CancellationToken cancellationToken)
    {
        if (await db.Tasks.AnyAsync(t => t.BatchId == batchId && t.Status == TaskStatuses.Cancelled, cancellationToken))
            return BatchStatuses.Cancelled;
        return await db.Tasks.AnyAsync(t => t.BatchId == batchId && t.Status == TaskStatuses.Failed, cancellationToken)
            ? BatchStatuses.CompletedWithFailures
            : BatchStatuses.Completed;
    }
}
