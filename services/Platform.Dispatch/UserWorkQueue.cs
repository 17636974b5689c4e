using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using Platform.Contracts;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Tiers;

namespace Platform.Dispatch;

/// <summary>
/// Where a user's next task is chosen. Level-triggered: whatever the event, it fills the user's free slots from the
/// user's queued tasks, round-robin across the user's open batches, and sends <see cref="ExecuteTask"/> (through the
/// outbox, in the same transaction) only for tasks that now hold a slot. The user's <see cref="DispatchLock"/> is held for
/// the decision, so decisions for one user are serialized across every orchestrator instance; each transition is conditional
/// (<c>WHERE status = 'queued'</c>), so a task cancelled meanwhile is never dispatched.
/// Cost is bounded by the tier's concurrency and the user's open batches, never by the backlog.
/// </summary>
/// <remarks>
/// A decision is on the way from every freed slot to the next task's start, so it takes four round trips to PostgreSQL:
/// the lock with what it protects (user, slots in use, open batches: one batch of statements, each reading after the
/// lock is held), the candidates, the transitions, the commit (with the outbox rows before it). A worker's refill sends
/// the end of its task with the first and the start of the task it keeps with the third (<see cref="Refill"/>).
/// </remarks>
public sealed class UserWorkQueue(PlatformDbContext db, IOptionsMonitor<TierOptions> tiers, TimeProvider clock)
{
    /// <summary>Fills the user's free slots in a transaction of its own; returns how many tasks it dispatched.</summary>
    public async Task<int> FillSlots(string userId, CancellationToken cancellationToken)
    {
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var decision = await Decide(userId, freed: null, handOver: null, cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return decision?.Dispatched ?? 0; // never null: no task's end to apply
    }

    /// <summary>
    /// Ends a worker's task and refills the slot it frees (and any other free one) in the caller's transaction (the caller
    /// saves and commits), so that the slot is refilled by the same commit that frees it. The task's end goes to
    /// PostgreSQL with the decision's first round trip: <see cref="FreedSlot.EndTask"/> before the user's lock,
    /// <see cref="FreedSlot.Quota"/> after it. When the end does not apply (the attempt was superseded), nothing is
    /// decided and the caller rolls back. With a <paramref name="handOver"/>, one of the tasks dispatched (the one in the
    /// freed slot if there is one) carries the worker's lease instead of getting an ExecuteTask, and starts for that
    /// worker in the same round trip as its transition (<see cref="TaskClaim"/>): the worker runs it next without a trip
    /// through the broker. Every other task dispatched gets its ExecuteTask as usual.
    /// </summary>
    /// <remarks>
    /// The lock comes after the task's own row, against the lock order of a batch's cancellation, so that it is held for
    /// the decision only. That cannot deadlock: a running task's row is written only by its own attempt, the reconciler
    /// and a cancellation's backstop, and none of them holds or waits for a dispatch lock; every holder of the lock writes
    /// queued tasks only. The user's row (the quota) comes after the lock, as in a cancellation.
    /// </remarks>
    public async Task<Refilled> Refill(string userId, FreedSlot freed, HandOver? handOver, CancellationToken cancellationToken)
    {
        if (db.Database.CurrentTransaction is null)
            throw new InvalidOperationException("A hand-over commits with the end of the task that freed the slot: begin a transaction first.");
        var decision = await Decide(userId, freed, handOver, cancellationToken);
        return decision is null ? Refilled.NotEnded : new Refilled(true, decision.Value.Dispatched, decision.Value.HandedOver);
    }

    /// <summary>The decision; null only when <paramref name="freed"/>'s end of its task did not apply.</summary>
    async Task<Decision?> Decide(string userId, FreedSlot? freed, HandOver? handOver, CancellationToken cancellationToken)
    {
        var (ended, user) = await ReadUnderLock(userId, freed, cancellationToken);
        if (!ended)
            return null;
        if (user is null)
            return Decision.None;

        var concurrency = tiers.CurrentValue.ConcurrencyOf(user.Tier, user.OwnProviderKey);
        var freeSlots = RoundRobin.FreeSlots(concurrency, user.BusySlots);
        if (freeSlots.Count == 0 || user.OpenBatches.Count == 0)
            return Decision.None;

        var now = clock.GetUtcNow();
        var batchIds = user.OpenBatches.Select(b => b.BatchId).ToArray();
        var candidates = await db.Database.SqlQuery<Candidate>($"""
            SELECT t.task_id AS "TaskId", t.batch_id AS "BatchId"
            FROM unnest({batchIds}) AS b(id)
            CROSS JOIN LATERAL (
                SELECT task_id, batch_id, seq FROM tasks
                WHERE batch_id = b.id AND status = 'queued' AND (not_before IS NULL OR not_before <= {now})
                ORDER BY seq LIMIT {freeSlots.Count}) t
            ORDER BY t.batch_id, t.seq
            """).ToListAsync(cancellationToken);

        var lanes = user.OpenBatches
            .Select(b => new BatchLane(b.BatchId, b.LastTurn, b.CreatedAt,
                candidates.Where(c => c.BatchId == b.BatchId).Select(c => c.TaskId).ToList()))
            .ToList();

        // Turns only need to grow within this user's open batches: continue from the latest one handed out.
        var turn = user.OpenBatches.Max(b => b.LastTurn);
        var picks = RoundRobin.Choose(lanes, freeSlots, ref turn);
        var drained = lanes.Where(l => l.NextTasks.Count == 0).Select(l => l.BatchId).ToArray();

        // Each dispatched task gets a lease of its own, but the hand-over's: that one the worker keeps, and starts.
        var kept = handOver is null || picks.Count == 0 ? null : picks.FirstOrDefault(p => p.Slot == freed?.Slot) ?? picks[0];
        var leases = picks.Select(p => p == kept ? handOver!.LeaseId : Guid.NewGuid()).ToArray();
        var start = kept is null ? null : TaskClaim.Statement(handOver!.LeaseId, now, handOver.Worker, takeOver: false);

        var (dispatched, started) = await Transition(picks, leases, drained, now, start, cancellationToken);
        foreach (var task in dispatched)
        {
            // The ExecuteTask row carries the task's own trace (see DispatchTelemetry), not the trigger's.
            using var span = DispatchTelemetry.StartDispatch(task.TraceParent, userId, user.Tier, task.TaskId, task.BatchId, task.Slot, task.Attempts + 1);
            if (task.LeaseId == handOver?.LeaseId)
            {
                span?.SetTag("platform.dispatch.handed_over", true);
                continue;
            }

            db.Publish(new ExecuteTask(task.TaskId, task.BatchId, userId, user.Tier, task.Slot, task.Attempts + 1, task.LeaseId, now));
        }

        return new Decision(dispatched.Count, started);
    }

    /// <summary>
    /// In one round trip: the end of the freed slot's task if there is one, the user's lock, the user, the slots in use, the
    /// open batches, and the freed slot's quota change. Whether the task's end applied (always, without one), and the
    /// user's state (null when the user does not exist).
    /// </summary>
    async Task<(bool Ended, UserState? User)> ReadUnderLock(string userId, FreedSlot? freed, CancellationToken cancellationToken)
    {
        var statements = new List<NpgsqlBatchCommand>();
        if (freed is not null)
            statements.Add(freed.EndTask);
        statements.Add(DispatchLock.Command(db, userId));
        statements.Add(Statements.Statement("SELECT tier, own_provider_key FROM users WHERE user_id = $1", userId));
        statements.Add(Statements.Statement("SELECT COALESCE(slot, -1) FROM tasks WHERE user_id = $1 AND status = $2", userId, TaskStatuses.Running));
        // A cancellation closes its batch itself, under this same lock; the column is the rule, so that no path that
        // reopens a batch can ever make a cancelled batch's tasks dispatchable again.
        statements.Add(Statements.Statement(
            "SELECT batch_id, last_turn, created_at FROM batches WHERE user_id = $1 AND open AND cancel_requested_at IS NULL", userId));
        if (freed is not null)
            statements.Add(freed.Quota); // the user's row after the lock: last, so that it is held for the least time

        await using var batch = db.Batch([.. statements]);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);

        var ended = true;
        if (freed is not null)
        {
            ended = await reader.ReadAsync(cancellationToken); // the task's end returns the task when it applied
            await reader.NextResultAsync(cancellationToken);
        }

        await reader.NextResultAsync(cancellationToken); // past the lock's own result
        if (!await reader.ReadAsync(cancellationToken))
            return (ended, null);
        var tier = reader.GetString(0);
        var ownProviderKey = reader.GetBoolean(1);

        await reader.NextResultAsync(cancellationToken);
        var busy = new List<int>();
        while (await reader.ReadAsync(cancellationToken))
            busy.Add(reader.GetInt32(0));

        await reader.NextResultAsync(cancellationToken);
        var batches = new List<OpenBatch>();
        while (await reader.ReadAsync(cancellationToken))
            batches.Add(new OpenBatch(reader.GetGuid(0), reader.GetInt64(1), reader.GetFieldValue<DateTimeOffset>(2)));

        // Reading to the end surfaces an error in the quota's statement.
        while (await reader.NextResultAsync(cancellationToken))
        {
        }

        return (ended, new UserState(tier, ownProviderKey, busy, batches));
    }

    /// <summary>
    /// In one round trip: the picked tasks to running in their slots (only those still queued), the hand-over's start if
    /// there is one, each batch's latest turn, and the drained batches out of the dispatcher's view.
    /// </summary>
    async Task<(List<Dispatched> Dispatched, ClaimedTask? Started)> Transition(IReadOnlyList<Pick> picks, Guid[] leases, Guid[] drained,
        DateTimeOffset now, NpgsqlBatchCommand? start, CancellationToken cancellationToken)
    {
        var statements = new List<NpgsqlBatchCommand>();
        if (picks.Count > 0)
        {
            statements.Add(Statements.Statement("""
                UPDATE tasks t SET status = 'running', slot = p.slot, lease_id = p.lease_id, dispatched_at = $4, started_at = NULL, finished_at = NULL
                FROM unnest($1::uuid[], $2::int[], $3::uuid[]) AS p(task_id, slot, lease_id)
                WHERE t.task_id = p.task_id AND t.status = 'queued'
                RETURNING t.task_id, t.batch_id, t.slot, t.attempts, t.trace_parent, t.lease_id
                """, picks.Select(p => p.TaskId).ToArray(), picks.Select(p => p.Slot).ToArray(), leases, now));
            // Right after the transitions (whose result it sees), so that its result is the next one to read.
            if (start is not null)
                statements.Add(start);
            var lastTurns = picks.GroupBy(p => p.BatchId).Select(g => g.Last()).ToList();
            statements.Add(Statements.Statement("""
                UPDATE batches b SET last_turn = p.turn
                FROM unnest($1::uuid[], $2::bigint[]) AS p(batch_id, turn)
                WHERE b.batch_id = p.batch_id
                """, lastTurns.Select(p => p.BatchId).ToArray(), lastTurns.Select(p => p.Turn).ToArray()));
        }

        if (drained.Length > 0)
        {
            // A batch with nothing queued (not even a task waiting for its retry time) leaves the dispatcher's view.
            // Whatever queues a task again (a retry) reopens its batch in the same statement.
            statements.Add(Statements.Statement("""
                UPDATE batches b SET open = false
                WHERE b.batch_id = ANY($1) AND b.open
                  AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.batch_id = b.batch_id AND t.status = 'queued')
                """, drained));
        }

        var dispatched = new List<Dispatched>();
        ClaimedTask? started = null;
        if (statements.Count == 0)
            return (dispatched, started);

        await using var batch = db.Batch([.. statements]);
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        if (picks.Count > 0)
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                dispatched.Add(new Dispatched(reader.GetGuid(0), reader.GetGuid(1), reader.GetInt32(2), reader.GetInt32(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4), reader.GetGuid(5)));
            }

            if (start is not null)
            {
                await reader.NextResultAsync(cancellationToken);
                started = await TaskClaim.Read(reader, cancellationToken);
            }
        }

        // Reading to the end surfaces an error in any later statement of the batch.
        while (await reader.NextResultAsync(cancellationToken))
        {
        }

        return (dispatched, started);
    }

    sealed record UserState(string Tier, bool OwnProviderKey, IReadOnlyCollection<int> BusySlots, IReadOnlyList<OpenBatch> OpenBatches);

    sealed record OpenBatch(Guid BatchId, long LastTurn, DateTimeOffset CreatedAt);

    sealed record Candidate(Guid TaskId, Guid BatchId);

    sealed record Dispatched(Guid TaskId, Guid BatchId, int Slot, int Attempts, string? TraceParent, Guid LeaseId);
}

/// <summary>
/// A worker's task that just ended and freed its slot: the statement that ends it (a conditional transition of the task's
/// row that returns the task when it applied) and the matching change of the user's quota.
/// </summary>
public sealed record FreedSlot(int Slot, NpgsqlBatchCommand EndTask, NpgsqlBatchCommand Quota);

/// <summary>A worker's offer to run the next task of the slot it just freed, under the lease of the delivery it holds.</summary>
public sealed record HandOver(Guid LeaseId, string Worker);

/// <summary>What a decision did: tasks dispatched (the one handed over included), and the one that started under the hand-over's lease.</summary>
public readonly record struct Decision(int Dispatched, ClaimedTask? HandedOver)
{
    public static readonly Decision None = new(0, null);
}

/// <summary>What a refill did: whether the freed slot's task ended (if not, nothing else happened), and the decision's outcome.</summary>
public readonly record struct Refilled(bool TaskEnded, int Dispatched, ClaimedTask? HandedOver)
{
    public static readonly Refilled NotEnded = new(false, 0, null);
}
