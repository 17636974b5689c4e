using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Platform.Contracts;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Tiers;

namespace Platform.Orchestrator.Dispatch;

/// <summary>
/// Where a user's next task is chosen. Level-triggered: whatever the event, it fills the user's free slots from the
/// user's queued tasks, round-robin across the user's open batches, and sends <see cref="ExecuteTask"/> (through the
/// outbox, in the same transaction) only for tasks that now hold a slot. The user's <see cref="DispatchLock"/> is held for
/// the decision, so decisions for one user are serialized across every orchestrator instance; each transition is conditional
/// (<c>WHERE status = 'queued'</c>), so a task cancelled meanwhile is never dispatched.
/// Cost is bounded by the tier's concurrency and the user's open batches, never by the backlog.
/// </summary>
public sealed class UserWorkQueue(PlatformDbContext db, IOptionsMonitor<TierOptions> tiers, TimeProvider clock)
{
    public async Task<int> FillSlots(string userId, CancellationToken cancellationToken)
    {
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);

        await DispatchLock.Acquire(db, userId, cancellationToken);
        var user = await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.UserId == userId, cancellationToken);
        if (user is null)
            return 0;

        var concurrency = tiers.CurrentValue.ConcurrencyOf(user.Tier, user.OwnProviderKey);
        var busy = await db.Tasks.Where(t => t.UserId == userId && t.Status == TaskStatuses.Running)
            .Select(t => t.Slot ?? -1).ToListAsync(cancellationToken);
        var freeSlots = RoundRobin.FreeSlots(concurrency, busy);
        if (freeSlots.Count == 0)
            return 0;

        // A cancellation closes its batch itself, under this same lock; the column is the rule, so that no path that
        // reopens a batch can ever make a cancelled batch's tasks dispatchable again.
        var batches = await db.Batches.Where(b => b.UserId == userId && b.Open && b.CancelRequestedAt == null)
            .Select(b => new { b.BatchId, b.LastTurn, b.CreatedAt }).ToListAsync(cancellationToken);
        if (batches.Count == 0)
            return 0;

        var now = clock.GetUtcNow();
        var batchIds = batches.Select(b => b.BatchId).ToArray();
        var candidates = await db.Database.SqlQuery<Candidate>($"""
            SELECT t.task_id AS "TaskId", t.batch_id AS "BatchId"
            FROM unnest({batchIds}) AS b(id)
            CROSS JOIN LATERAL (
                SELECT task_id, batch_id, seq FROM tasks
                WHERE batch_id = b.id AND status = 'queued' AND (not_before IS NULL OR not_before <= {now})
                ORDER BY seq LIMIT {freeSlots.Count}) t
            ORDER BY t.batch_id, t.seq
            """).ToListAsync(cancellationToken);

        var lanes = batches
            .Select(b => new BatchLane(b.BatchId, b.LastTurn, b.CreatedAt,
                candidates.Where(c => c.BatchId == b.BatchId).Select(c => c.TaskId).ToList()))
            .ToList();

        await CloseDrainedBatches(lanes.Where(l => l.NextTasks.Count == 0).Select(l => l.BatchId).ToArray(), cancellationToken);

        // Turns only need to grow within this user's open batches: continue from the latest one handed out.
        var turn = batches.Max(b => b.LastTurn);
        var picks = RoundRobin.Choose(lanes, freeSlots, ref turn);
        if (picks.Count == 0)
        {
            await tx.CommitAsync(cancellationToken);
            return 0;
        }

        var dispatched = await db.Database.SqlQuery<Dispatched>($"""
            UPDATE tasks t SET status = 'running', slot = p.slot, dispatched_at = {now}, started_at = NULL, finished_at = NULL
            FROM unnest({picks.Select(p => p.TaskId).ToArray()}, {picks.Select(p => p.Slot).ToArray()}) AS p(task_id, slot)
            WHERE t.task_id = p.task_id AND t.status = 'queued'
            RETURNING t.task_id AS "TaskId", t.batch_id AS "BatchId", t.slot AS "Slot", t.attempts AS "Attempts", t.trace_parent AS "TraceParent"
            """).ToListAsync(cancellationToken);

        foreach (var lastPick in picks.GroupBy(p => p.BatchId).Select(g => g.Last()))
        {
            await db.Batches.Where(b => b.BatchId == lastPick.BatchId)
                .ExecuteUpdateAsync(s => s.SetProperty(b => b.LastTurn, lastPick.Turn), cancellationToken);
        }

        foreach (var task in dispatched)
        {
            // The ExecuteTask row carries the task's own trace (see DispatchTelemetry), not the trigger's.
            using var span = DispatchTelemetry.StartDispatch(task.TraceParent, userId, user.Tier, task.TaskId, task.BatchId, task.Slot, task.Attempts + 1);
            db.Publish(new ExecuteTask(task.TaskId, task.BatchId, userId, user.Tier, task.Slot, task.Attempts + 1, now));
        }

        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return dispatched.Count;
    }

    // A batch with nothing queued (not even a task waiting for its retry time) leaves the dispatcher's view.
    // Whatever queues a task again (a retry) reopens its batch in the same statement.
    Task CloseDrainedBatches(Guid[] batchIds, CancellationToken cancellationToken) =>
        batchIds.Length == 0
            ? Task.CompletedTask
            : db.Database.ExecuteSqlAsync($"""
                UPDATE batches b SET open = false
                WHERE b.batch_id = ANY({batchIds}) AND b.open
                  AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.batch_id = b.batch_id AND t.status = 'queued')
                """, cancellationToken);

    sealed record Candidate(Guid TaskId, Guid BatchId);

    sealed record Dispatched(Guid TaskId, Guid BatchId, int Slot, int Attempts, string? TraceParent);
}
