using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using Platform.Contracts;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Tiers;

namespace Platform.Dispatch;

/// <summary>
/// Where the next task is chosen: which user gets a free unit of the fleet, then which of that user's tasks takes it.
/// Level-triggered: whatever the event, a decision gives out the fleet's free units (live capacity minus tasks in flight)
/// by fair share (<see cref="FairShare"/>: the ready user with a free slot and the lowest virtual time first), then fills
/// each chosen user's units from its queued tasks, round-robin across its open batches, and sends
/// <see cref="ExecuteTask"/> (through the outbox, in the same transaction) only for tasks that now hold a slot and a unit.
/// </summary>
/// <remarks>
/// Locks (docs/fair-share.md): the fleet's lock for the whole decision, so that no two decisions give out the same unit
/// and the order of virtual times is kept; then each chosen user's dispatch lock, only tried (a user whose lock is busy,
/// with a cancellation or a tier change, is passed over this time), so a decision never waits behind one user. Every
/// transition is conditional (<c>WHERE status = 'queued'</c>), so a task cancelled meanwhile is never dispatched.
/// Cost per decision: an index walk over the ready users in virtual-time order (past those at their slots only), then per
/// chosen user its slots and open batches; never the backlog, never all users. A worker's refill under saturation (one unit
/// freed, kept by its own user) is three round trips: the task's end with everything the decision reads, the transitions,
/// the commit.
/// </remarks>
public sealed class UserWorkQueue(PlatformDbContext db, IOptionsMonitor<TierOptions> tiers, IOptions<FleetOptions> fleet, IOptions<BudgetOptions> budget,
    TimeProvider clock)
{
    /// <summary>Ready users read per look: more than the units one freed task or a few submissions free.</summary>
    const int CandidatesPerLook = 32;

    /// <summary>
    /// Round trips a decision spends on users that could not take their units (nothing due after all, lock busy) before
    /// it leaves the rest to the next decision.
    /// </summary>
    const int MaxLooks = 8;

    /// <summary>
    /// Marks the user ready if it has an open batch, and gives out the fleet's free units, in a transaction of its own;
    /// returns how many tasks it dispatched (to this user or to whoever fair share put first).
    /// </summary>
    public Task<int> FillSlots(string userId, CancellationToken cancellationToken) => FillFleet([userId], cancellationToken);

    /// <summary><see cref="FillSlots"/> for several users at once, with one decision (the reconciler's pass).</summary>
    public async Task<int> FillFleet(IReadOnlyCollection<string> userIds, CancellationToken cancellationToken)
    {
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var decision = await Decide(userIds.Count == 1 ? [userIds.First()] : [], [.. userIds], [], cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return decision?.Dispatched ?? 0; // never null: no task's end to apply
    }

    /// <summary>
    /// Ends tasks that ended on one worker at once and gives out the units they free (and any other free one) in the
    /// caller's transaction (the caller saves and commits): one decision, one turn on the fleet's lock, and the units are
    /// given by the same commit that frees them. The tasks' ends go with the decision's first round trip; when any one
    /// does not apply (its attempt was superseded), nothing is decided and the caller rolls back and records them one by
    /// one. Each hand-over's lease, instead of an ExecuteTask, gets its own user's next task if fair share gives that user
    /// a unit (the freed slot first), or else another task the decision chose; that task starts for the worker in the
    /// same round trip as its transition (<see cref="TaskClaim"/>), and the worker runs it next without a trip through the
    /// broker. A lease that gets no task ends its delivery.
    /// </summary>
    /// <remarks>
    /// The fleet's lock comes after the tasks' own rows and their users' rows (in user order). That cannot deadlock: a
    /// running task's row is written only by its own attempt, the reconciler and a cancellation's backstop, none of which
    /// waits for the fleet's lock, and the holder of the fleet's lock writes queued tasks only.
    /// </remarks>
    public async Task<Refilled> Refill(IReadOnlyList<Freeing> ends, CancellationToken cancellationToken)
    {
        if (db.Database.CurrentTransaction is null)
            throw new InvalidOperationException("A hand-over commits with the end of the task that freed the slot: begin a transaction first.");
        var hinted = ends.Select(e => e.UserId).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var decision = await Decide(hinted, [], ends, cancellationToken);
        return decision is null ? Refilled.NotEnded : new Refilled(true, decision.Value.Dispatched, decision.Value.HandedOver);
    }

    /// <summary>The decision; null only when one of <paramref name="freed"/>'s ends of its task did not apply.</summary>
    /// <param name="hinted">The users the decision is most likely for (the freed tasks', or the event's): read in the first round trip.</param>
    /// <param name="markReady">Users that may have work due (an event said so): ready before fair share looks.</param>
    async Task<Decision?> Decide(string[] hinted, string[] markReady, IReadOnlyList<Freeing> freed, CancellationToken cancellationToken)
    {
        var tierOptions = tiers.CurrentValue;
        var first = new List<NpgsqlBatchCommand>();
        // The tasks' rows, then the users' rows (their quota, in user order, so that two workers' decisions take them in the
        // same order), then the fleet's lock: whoever holds the fleet's lock never waits for a user's row, which a big
        // submission holds until it commits.
        first.AddRange(freed.Select(f => f.Freed.EndTask));
        first.AddRange(freed.OrderBy(f => f.UserId, StringComparer.Ordinal).Select(f => f.Freed.Quota));

        first.Add(DispatchLock.FleetCommand(db));
        if (markReady.Length > 0)
            first.Add(UserShares.MarkReadyStatement(tierOptions, markReady));
        foreach (var f in freed)
        {
            if (f.Freed.Seconds is { } seconds)
                first.Add(FairShare.SettleStatement(tierOptions, f.UserId, seconds));
        }

        foreach (var f in freed)
        {
            if (f.Freed.Budget is { } settle)
                first.AddRange(settle); // after the fleet's lock, under which budget rows are written
        }

        foreach (var user in hinted)
            first.AddRange(UserStatements(user, perBatch: 1));
        first.Add(FleetCapacity.Statement(fleet.Value.WorkerTimeout));
        var defaultTokens = budget.Value.EstimatedTokens;
        // Budgets' room as of before the lock's wait: what a minute held drains with time, so an earlier reading is the safe side.
        first.Add(FairShare.CandidatesStatement(tierOptions, CandidatesPerLook, [], clock.GetUtcNow(), defaultTokens));

        var hintedStates = new Dictionary<string, UserState>(StringComparer.Ordinal);
        int capacity, inFlight;
        List<ShareCandidate> candidates;
        await using (var batch = db.Batch([.. first]))
        await using (var reader = await batch.ExecuteReaderAsync(cancellationToken))
        {
            foreach (var _ in freed)
            {
                if (!await reader.ReadAsync(cancellationToken)) // a task's end returns the task when it applied
                    return null;
                await reader.NextResultAsync(cancellationToken);
            }

            // Past the fleet's lock; statements that return no rows (the quota, marking ready, settling) have no result to skip.
            await reader.NextResultAsync(cancellationToken);
            foreach (var user in hinted)
                hintedStates[user] = await ReadUser(reader, user, cancellationToken);

            await reader.ReadAsync(cancellationToken);
            capacity = reader.GetInt32(0);
            inFlight = reader.GetInt32(1);
            await reader.NextResultAsync(cancellationToken);
            candidates = await FairShare.ReadCandidates(reader, cancellationToken);
        }

        // Once the fleet's lock is held: a task's dispatched_at is when it was dispatched, not when its decision began waiting.
        var now = clock.GetUtcNow();

        // Each credential's budget as this decision gives it out: read once, then only what the decision reserved comes off.
        var rooms = new Dictionary<Guid, BudgetRoom>();
        void Seen(List<ShareCandidate> read)
        {
            foreach (var c in read)
            {
                if (c.Budget is { } b)
                    rooms.TryAdd(b.Credential, BudgetRoom.Of(b));
            }
        }

        Seen(candidates);
        var free = capacity - inFlight;
        var plans = new List<Plan>();
        var tried = new HashSet<string>(StringComparer.Ordinal);
        var more = candidates.Count == CandidatesPerLook; // ready users beyond those read
        for (var look = 1; free > 0 && look <= MaxLooks; look++)
        {
            if (candidates.Count == 0)
            {
                if (!more)
                    break;
                await using var batch = db.Batch(FairShare.CandidatesStatement(tierOptions, CandidatesPerLook, [.. tried], now, defaultTokens));
                await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
                candidates = await FairShare.ReadCandidates(reader, cancellationToken);
                Seen(candidates);
                more = candidates.Count == CandidatesPerLook;
                continue;
            }

            // Each user is given units once per decision: those it cannot use (nothing due after all, its lock busy) go
            // to the next ones in order at the next look.
            var grants = FairShare.Grant(candidates, free, rooms);
            if (grants.Count == 0)
                break;
            foreach (var (user, _) in grants)
                tried.Add(user.UserId);
            candidates = candidates.Where(c => !tried.Contains(c.UserId)).ToList();

            // The chosen users' state, in one round trip: all but the hinted one (read already, unless it needs more tasks).
            var toRead = grants.Where(g => !hintedStates.TryGetValue(g.User.UserId, out var known) || !known.Locked || g.Units > 1).ToList();
            var states = new Dictionary<string, UserState>(StringComparer.Ordinal);
            foreach (var known in hintedStates.Values.Where(h => h.Locked))
                states[known.UserId] = known;
            if (toRead.Count > 0)
            {
                await using var batch = db.Batch([.. toRead.SelectMany(g => UserStatements(g.User.UserId, g.Units))]);
                await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
                // The hinted user's lock is already this transaction's: a second try reports it held.
                foreach (var (user, _) in toRead)
                    states[user.UserId] = await ReadUser(reader, user.UserId, cancellationToken);
            }

            foreach (var (user, units) in grants)
            {
                if (!states.TryGetValue(user.UserId, out var state) || !state.Locked)
                    continue; // busy with a cancellation or a tier change: passed over this time
                var plan = PlanUser(state, user, units, tierOptions, rooms);
                plans.Add(plan);
                free -= plan.Picks.Count;
            }
        }

        // A hinted user's own state still matters without a unit: a user with no open batch is not ready any more.
        foreach (var known in hintedStates.Values)
        {
            if (known.Locked && plans.All(p => p.State.UserId != known.UserId) && known.Lanes.Count == 0)
                plans.Add(new Plan(known, 0, [], [], false, []));
        }

        return await Commit(plans, freed, now, cancellationToken);
    }

    /// <summary>
    /// One chosen user's picks: the units it was given, filled round-robin from its open batches, each task that calls a
    /// provider only while its credential's budget holds one more request and the user's estimate (reserved here).
    /// </summary>
    static Plan PlanUser(UserState state, ShareCandidate user, int units, TierOptions tierOptions, Dictionary<Guid, BudgetRoom> rooms)
    {
        var concurrency = tierOptions.Exists(state.Tier) ? tierOptions.ConcurrencyOf(state.Tier, state.OwnProviderKey) : 0;
        var freeSlots = RoundRobin.FreeSlots(concurrency, state.BusySlots).Take(units).ToList();
        var turn = state.Lanes.Count == 0 ? 0 : state.Lanes.Max(l => l.LastTurn);
        var reservations = new List<Reservation>();
        var picks = RoundRobin.Choose(state.Lanes, freeSlots, ref turn, task =>
        {
            if (state.Simulated.Contains(task) || user.Budget is not { } budget)
                return true; // calls no provider: never waits for, nor takes from, a budget
            var room = rooms[budget.Credential];
            if (!room.Fits(budget.EstimatedTokens))
                return false;
            room.Take(budget.EstimatedTokens);
            reservations.Add(new Reservation(task, budget.Credential, (int)Math.Ceiling(budget.EstimatedTokens)));
            return true;
        });
        var drained = state.Lanes.Where(l => l.NextTasks.Count == 0).Select(l => l.BatchId).ToArray();

        // Still ready if it has tasks due beyond these picks: each batch listed one more than it could be given.
        var ready = state.Lanes.Sum(l => l.NextTasks.Count) > picks.Count;
        return new Plan(state, picks.Count * FairShare.Charge(user.MeanSeconds, user.Weight), picks, drained, ready, reservations);
    }

    /// <summary>
    /// In one round trip: every pick to running in its slot (only those still queued), the hand-over's start if there is
    /// one, each batch's latest turn, the drained batches out of the dispatcher's view, and each chosen user's charge.
    /// Then the ExecuteTasks, in the outbox.
    /// </summary>
    async Task<Decision> Commit(List<Plan> plans, IReadOnlyList<Freeing> freed, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var picks = plans.SelectMany(p => p.Picks.Select(pick => (Plan: p, Pick: pick))).ToList();

        // Each dispatched task gets a lease of its own, but the hand-overs': those the workers keep, and start. A freed unit
        // is its worker's, so it runs whichever task the unit was given to: its user's, in the freed slot if possible, or
        // the next user's that fair share put first (no trip through the broker either way).
        var kept = KeptPicks(picks.Select(p => (p.Plan.State.UserId, p.Pick)).ToList(), freed);
        var leases = picks.Select(p => kept.TryGetValue(p.Pick, out var h) ? h.LeaseId : Guid.NewGuid()).ToArray();
        var handedOver = kept.Values.Select(h => h.LeaseId).ToHashSet();

        var statements = new List<NpgsqlBatchCommand>();
        var reserved = plans.SelectMany(p => p.Reservations).ToDictionary(r => r.TaskId);
        if (reserved.Count > 0)
        {
            // First: a budget row is locked before any batch row, as by a 429's pause. A pick whose transition does not
            // apply (cancelled meanwhile) holds its reservation until the minute drains it: rare, and on the safe side.
            statements.Add(CredentialBudgets.ReserveStatement(
                reserved.Values.GroupBy(r => r.Credential).Select(g => (g.Key, g.Count(), (double)g.Sum(r => r.Tokens))).ToList(), now));
        }

        if (picks.Count > 0)
        {
            statements.Add(Statements.Statement("""
                UPDATE tasks t SET status = 'running', slot = p.slot, lease_id = p.lease_id, dispatched_at = $4, started_at = NULL, finished_at = NULL,
                  budget_credential_id = p.credential_id, reserved_tokens = p.tokens
                FROM unnest($1::uuid[], $2::int[], $3::uuid[], $5::uuid[], $6::int[]) AS p(task_id, slot, lease_id, credential_id, tokens)
                WHERE t.task_id = p.task_id AND t.status = 'queued'
                RETURNING t.task_id, t.batch_id, t.slot, t.attempts, t.trace_parent, t.lease_id, t.user_id
                """, picks.Select(p => p.Pick.TaskId).ToArray(), picks.Select(p => p.Pick.Slot).ToArray(), leases, now,
                picks.Select(p => reserved.TryGetValue(p.Pick.TaskId, out var r) ? (Guid?)r.Credential : null).ToArray(),
                picks.Select(p => reserved.TryGetValue(p.Pick.TaskId, out var r) ? (int?)r.Tokens : null).ToArray()));
            // Right after the transitions (whose result they see), so that their results are the next ones to read.
            foreach (var handOver in kept.Values)
                statements.Add(TaskClaim.Statement(handOver.LeaseId, now, handOver.Worker, takeOver: false));
            var lastTurns = picks.GroupBy(p => p.Pick.BatchId).Select(g => g.Last().Pick).ToList();
            statements.Add(Statements.Statement("""
                UPDATE batches b SET last_turn = p.turn
                FROM unnest($1::uuid[], $2::bigint[]) AS p(batch_id, turn)
                WHERE b.batch_id = p.batch_id
                """, lastTurns.Select(p => p.BatchId).ToArray(), lastTurns.Select(p => p.Turn).ToArray()));
        }

        var drained = plans.SelectMany(p => p.Drained).ToArray();
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

        if (plans.Count > 0)
            statements.Add(FairShare.ChargeStatement(plans.Select(p => (p.State.UserId, p.Charge, p.Ready)).ToList()));

        var dispatched = new List<Dispatched>();
        var started = new Dictionary<Guid, ClaimedTask>();
        if (statements.Count > 0)
        {
            await using var batch = db.Batch([.. statements]);
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            if (picks.Count > 0)
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    dispatched.Add(new Dispatched(reader.GetGuid(0), reader.GetGuid(1), reader.GetInt32(2), reader.GetInt32(3),
                        reader.IsDBNull(4) ? null : reader.GetString(4), reader.GetGuid(5), reader.GetString(6)));
                }

                foreach (var handOver in kept.Values)
                {
                    await reader.NextResultAsync(cancellationToken);
                    if (await TaskClaim.Read(reader, cancellationToken) is { } claimed)
                        started[handOver.LeaseId] = claimed;
                }
            }

            // Reading to the end surfaces an error in any later statement of the batch.
            while (await reader.NextResultAsync(cancellationToken))
            {
            }
        }

        var tierOf = plans.ToDictionary(p => p.State.UserId, p => p.State.Tier, StringComparer.Ordinal);
        foreach (var task in dispatched)
        {
            var tier = tierOf[task.UserId];
            // The ExecuteTask row carries the task's own trace (see DispatchTelemetry), not the trigger's.
            using var span = DispatchTelemetry.StartDispatch(task.TraceParent, task.UserId, tier, task.TaskId, task.BatchId, task.Slot, task.Attempts + 1);
            if (handedOver.Contains(task.LeaseId))
            {
                span?.SetTag("platform.dispatch.handed_over", true);
                continue;
            }

            db.Publish(new ExecuteTask(task.TaskId, task.BatchId, task.UserId, tier, task.Slot, task.Attempts + 1, task.LeaseId, now));
        }

        return new Decision(dispatched.Count, started);
    }

    /// <summary>
    /// Which pick each hand-over's lease takes: first its own user's task in the freed slot, then any of its own user's,
    /// then any other pick still unkept, in the order the decision made them.
    /// </summary>
    static Dictionary<Pick, HandOver> KeptPicks(List<(string UserId, Pick Pick)> picks, IReadOnlyList<Freeing> freed)
    {
        var kept = new Dictionary<Pick, HandOver>();
        var offers = freed.Where(f => f.HandOver is not null).ToList();
        Func<Freeing, (string UserId, Pick Pick), bool>[] preferences =
        [
            (f, p) => p.UserId == f.UserId && p.Pick.Slot == f.Freed.Slot,
            (f, p) => p.UserId == f.UserId,
            (_, _) => true,
        ];
        foreach (var prefers in preferences)
        {
            foreach (var offer in offers.ToList())
            {
                var pick = picks.FirstOrDefault(p => !kept.ContainsKey(p.Pick) && prefers(offer, p));
                if (pick.Pick is null)
                    continue;
                kept[pick.Pick] = offer.HandOver!;
                offers.Remove(offer);
            }
        }

        return kept;
    }

    /// <summary>
    /// One user's state, four statements: its dispatch lock (tried), the user, the slots in use, and its open batches with
    /// up to <paramref name="perBatch"/> of each one's next due tasks, and one more to tell whether any is left.
    /// </summary>
    IEnumerable<NpgsqlBatchCommand> UserStatements(string userId, int perBatch)
    {
        yield return DispatchLock.TryCommand(db, userId);
        yield return Statements.Statement("SELECT tier, own_provider_key FROM users WHERE user_id = $1", userId);
        yield return Statements.Statement("SELECT COALESCE(slot, -1) FROM tasks WHERE user_id = $1 AND status = $2", userId, TaskStatuses.Running);
        // A cancellation closes its batch itself, under the user's lock; the column is the rule, so that no path that
        // reopens a batch can ever make a cancelled batch's tasks dispatchable again.
        yield return Statements.Statement("""
            SELECT b.batch_id, b.last_turn, b.created_at, t.task_id, t.simulated
            FROM batches b
            LEFT JOIN LATERAL (
                SELECT task_id, seq, input ? 'simulate' AS simulated FROM tasks
                WHERE batch_id = b.batch_id AND status = 'queued' AND (not_before IS NULL OR not_before <= $2)
                ORDER BY seq LIMIT $3) t ON true
            WHERE b.user_id = $1 AND b.open AND b.cancel_requested_at IS NULL
            ORDER BY b.batch_id, t.seq
            """, userId, clock.GetUtcNow(), perBatch + 1);
    }

    /// <summary>Reads <see cref="UserStatements"/>' four results where the reader stands.</summary>
    static async Task<UserState> ReadUser(NpgsqlDataReader reader, string userId, CancellationToken cancellationToken)
    {
        await reader.ReadAsync(cancellationToken);
        var locked = reader.GetBoolean(0);
        await reader.NextResultAsync(cancellationToken);

        string? tier = null;
        var ownProviderKey = false;
        if (await reader.ReadAsync(cancellationToken))
        {
            tier = reader.GetString(0);
            ownProviderKey = reader.GetBoolean(1);
        }

        await reader.NextResultAsync(cancellationToken);
        var busy = new List<int>();
        while (await reader.ReadAsync(cancellationToken))
            busy.Add(reader.GetInt32(0));

        await reader.NextResultAsync(cancellationToken);
        var lanes = new List<BatchLane>();
        var simulated = new HashSet<Guid>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var batchId = reader.GetGuid(0);
            if (lanes.Count == 0 || lanes[^1].BatchId != batchId)
                lanes.Add(new BatchLane(batchId, reader.GetInt64(1), reader.GetFieldValue<DateTimeOffset>(2), new List<Guid>()));
            if (!reader.IsDBNull(3))
            {
                ((List<Guid>)lanes[^1].NextTasks).Add(reader.GetGuid(3));
                if (reader.GetBoolean(4))
                    simulated.Add(reader.GetGuid(3));
            }
        }

        await reader.NextResultAsync(cancellationToken);
        // A user row that is gone has nothing to dispatch: no lanes.
        return new UserState(userId, locked, tier ?? "", ownProviderKey, busy, tier is null ? [] : lanes, simulated);
    }

    /// <param name="Simulated">Tasks among the lanes' next ones that call no provider (<c>input.simulate</c>).</param>
    sealed record UserState(string UserId, bool Locked, string Tier, bool OwnProviderKey, IReadOnlyCollection<int> BusySlots,
        IReadOnlyList<BatchLane> Lanes, IReadOnlySet<Guid> Simulated);

    /// <param name="Charge">Share-seconds added to the user's virtual time: its picks at its estimate over its weight.</param>
    /// <param name="Reservations">The budget its provider-bound picks reserve.</param>
    sealed record Plan(UserState State, double Charge, IReadOnlyList<Pick> Picks, Guid[] Drained, bool Ready, IReadOnlyList<Reservation> Reservations);

    sealed record Reservation(Guid TaskId, Guid Credential, int Tokens);

    sealed record Dispatched(Guid TaskId, Guid BatchId, int Slot, int Attempts, string? TraceParent, Guid LeaseId, string UserId);
}

/// <summary>
/// A worker's task that just ended and freed its slot: the statement that ends it (a conditional transition of the task's
/// row that returns the task when it applied) and the matching change of the user's quota.
/// </summary>
/// <param name="Seconds">How long the task ran, to settle its user's fair-share charge; null when it did not run to an outcome.</param>
/// <param name="Budget">Settles the budget the task reserved (<see cref="CredentialBudgets.SettleStatements"/>); statements that return no rows.</param>
public sealed record FreedSlot(int Slot, NpgsqlBatchCommand EndTask, NpgsqlBatchCommand Quota, double? Seconds = null,
    IReadOnlyList<NpgsqlBatchCommand>? Budget = null);

/// <summary>A worker's offer to run the next task of the unit it just freed, under the lease of the delivery it holds.</summary>
public sealed record HandOver(Guid LeaseId, string Worker);

/// <summary>A worker's task that ended (<see cref="Freed"/>, of <see cref="UserId"/>), and its offer to run the next one.</summary>
public sealed record Freeing(string UserId, FreedSlot Freed, HandOver? HandOver);

/// <summary>What a decision did: tasks dispatched (those handed over included), and those that started under hand-overs' leases, by lease.</summary>
public readonly record struct Decision(int Dispatched, IReadOnlyDictionary<Guid, ClaimedTask> HandedOver);

/// <summary>What a refill did: whether its tasks ended (all or none), and the decision's outcome.</summary>
public readonly record struct Refilled(bool TasksEnded, int Dispatched, IReadOnlyDictionary<Guid, ClaimedTask> HandedOver)
{
    public static readonly Refilled NotEnded = new(false, 0, new Dictionary<Guid, ClaimedTask>());
}

