using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;
using Platform.Data.Model;
using Platform.Data.Tiers;

namespace Platform.Data;

/// <summary>How the fleet is judged from the workers' heartbeats (<c>Platform:Fleet</c>).</summary>
public sealed class FleetOptions
{
    public const string Section = "Platform:Fleet";

    /// <summary>A worker counts while its latest heartbeat is younger than this: a killed worker's capacity is gone after it.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan WorkerTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A worker silent for this long is deleted by the reconciler (until then the fleet view shows it as not live).</summary>
    [Range(typeof(TimeSpan), "00:00:01", "7.00:00:00")]
    public TimeSpan PruneAfter { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>One worker as the fleet sees it; <see cref="Running"/> counts the tasks in flight that it claimed.</summary>
public sealed record FleetWorker(string Worker, int Capacity, int Running, DateTimeOffset StartedAt, DateTimeOffset HeartbeatAt, bool Live);

/// <summary>A user with work, as the fair share will weigh them: its weight, its slots, what it holds and what waits.</summary>
public sealed record FleetUser(string UserId, string Tier, double Weight, int Slots, int Running, int Queued);

/// <summary>
/// The shared worker fleet: <see cref="Capacity"/> is the sum of the live workers' capacity, <see cref="Running"/> the
/// tasks in flight (dispatched or running, on any worker). The one place that computes them, so that the dispatcher and
/// the admin's view agree. Liveness is judged on the database's clock, which every instance shares.
/// </summary>
public sealed record Fleet(int Capacity, int Running, IReadOnlyList<FleetWorker> Workers)
{
    /// <summary>
    /// Reads the fleet: the worker rows (bounded by the instances, pruned when dead) and the tasks in flight grouped by
    /// worker (bounded by the slots in use, through the partial index on running tasks).
    /// </summary>
    public static async Task<Fleet> Read(PlatformDbContext db, TimeSpan workerTimeout, CancellationToken cancellationToken)
    {
        var rows = await db.Database.SqlQuery<WorkerRow>($"""
            SELECT worker_id AS "WorkerId", capacity AS "Capacity", started_at AS "StartedAt", heartbeat_at AS "HeartbeatAt",
                   (NOT stopping AND heartbeat_at > now() - {workerTimeout}) AS "Live"
            FROM workers
            """).ToListAsync(cancellationToken);
        var running = await db.Tasks.AsNoTracking()
            .Where(t => t.Status == TaskStatuses.Running)
            .GroupBy(t => t.Worker)
            .Select(g => new { Worker = g.Key, Count = g.Count() })
            .ToListAsync(cancellationToken);
        var byWorker = running.Where(r => r.Worker is not null).ToDictionary(r => r.Worker!, r => r.Count, StringComparer.Ordinal);

        var workers = rows
            .OrderBy(w => w.StartedAt).ThenBy(w => w.WorkerId, StringComparer.Ordinal)
            .Select(w => new FleetWorker(w.WorkerId, w.Capacity, byWorker.GetValueOrDefault(w.WorkerId), w.StartedAt, w.HeartbeatAt, w.Live))
            .ToList();
        return new Fleet(workers.Where(w => w.Live).Sum(w => w.Capacity), running.Sum(r => r.Count), workers);
    }

    /// <summary>
    /// The fleet's two totals alone, in one round trip, as <see cref="Read"/> computes them: for a view that needs only
    /// whether the fleet is full (the worker rows are bounded by the instances, the tasks in flight by the slots in use).
    /// </summary>
    public static async Task<(int Capacity, int Running)> Totals(PlatformDbContext db, TimeSpan workerTimeout, CancellationToken cancellationToken)
    {
        var totals = await db.Database.SqlQuery<TotalsRow>($"""
            SELECT (SELECT coalesce(sum(capacity), 0)::int FROM workers
                    WHERE NOT stopping AND heartbeat_at > now() - {workerTimeout}) AS "Capacity",
                   (SELECT count(*)::int FROM tasks WHERE status = 'running') AS "Running"
            """).SingleAsync(cancellationToken);
        return (totals.Capacity, totals.Running);
    }

    /// <summary>
    /// Every user with work, for a fair share that must weigh them all whatever a view lists: bounded by the users
    /// active right now, not by the users or the backlog.
    /// </summary>
    public static Task<IReadOnlyList<FleetUser>> AllUsers(PlatformDbContext db, TierOptions tiers, CancellationToken cancellationToken) =>
        Users(db, tiers, int.MaxValue, cancellationToken);

    /// <summary>
    /// The users with work (tasks in flight, or open batches with queued tasks), most running first, at most
    /// <paramref name="limit"/>. Queued counts come from the batch totals and the saga's counters, never from a count
    /// over the backlog; the aggregate runs over the open batches and the tasks in flight only.
    /// </summary>
    public static async Task<IReadOnlyList<FleetUser>> Users(PlatformDbContext db, TierOptions tiers, int limit, CancellationToken cancellationToken)
    {
        var rows = await db.Database.SqlQuery<UserRow>($"""
            WITH running AS (
                SELECT user_id, batch_id, count(*)::int AS n FROM tasks WHERE status = 'running' GROUP BY user_id, batch_id),
            queued AS (
                SELECT b.user_id,
                       sum(CASE WHEN b.cancel_requested_at IS NULL
                                THEN greatest(b.total - coalesce(s.completed + s.failed + s.cancelled, 0) - coalesce(r.n, 0), 0)
                                ELSE 0 END)::int AS n
                FROM batches b
                LEFT JOIN batch_states s ON s.correlation_id = b.batch_id
                LEFT JOIN running r ON r.batch_id = b.batch_id
                WHERE b.open
                GROUP BY b.user_id),
            held AS (SELECT user_id, sum(n)::int AS n FROM running GROUP BY user_id)
            SELECT u.user_id AS "UserId", u.tier AS "Tier", u.own_provider_key AS "OwnProviderKey",
                   coalesce(h.n, 0) AS "Running", coalesce(q.n, 0) AS "Queued"
            FROM users u
            LEFT JOIN held h ON h.user_id = u.user_id
            LEFT JOIN queued q ON q.user_id = u.user_id
            WHERE coalesce(h.n, 0) > 0 OR coalesce(q.n, 0) > 0
            ORDER BY coalesce(h.n, 0) DESC, coalesce(q.n, 0) DESC, u.user_id
            LIMIT {limit}
            """).ToListAsync(cancellationToken);

        return rows.Select(r => tiers.Exists(r.Tier)
                ? new FleetUser(r.UserId, r.Tier, tiers.WeightOf(r.Tier), tiers.ConcurrencyOf(r.Tier, r.OwnProviderKey), r.Running, r.Queued)
                : new FleetUser(r.UserId, r.Tier, 0, 0, r.Running, r.Queued))
            .ToList();
    }

    sealed class WorkerRow
    {
        public required string WorkerId { get; init; }
        public int Capacity { get; init; }
        public DateTimeOffset StartedAt { get; init; }
        public DateTimeOffset HeartbeatAt { get; init; }
        public bool Live { get; init; }
    }

    sealed class TotalsRow
    {
        public int Capacity { get; init; }
        public int Running { get; init; }
    }

    sealed class UserRow
    {
        public required string UserId { get; init; }
        public required string Tier { get; init; }
        public bool OwnProviderKey { get; init; }
        public int Running { get; init; }
        public int Queued { get; init; }
    }
}

/// <summary>
/// The statements by which a worker announces itself: every heartbeat writes its whole state (an upsert), so a row the
/// reconciler pruned while the worker was cut off comes back with the next heartbeat, and a worker never has to
/// remember whether it registered.
/// </summary>
public static class WorkerRegistry
{
    public static Task Report(PlatformDbContext db, string workerId, int capacity, DateTimeOffset startedAt, bool stopping,
        CancellationToken cancellationToken) =>
        db.Database.ExecuteSqlAsync($"""
            INSERT INTO workers (worker_id, capacity, started_at, heartbeat_at, stopping)
            VALUES ({workerId}, {capacity}, {startedAt}, now(), {stopping})
            ON CONFLICT (worker_id) DO UPDATE
            SET capacity = excluded.capacity, started_at = excluded.started_at, heartbeat_at = now(), stopping = excluded.stopping
            """, cancellationToken);

    /// <summary>The worker has stopped: it leaves the fleet's view at once.</summary>
    public static Task Remove(PlatformDbContext db, string workerId, CancellationToken cancellationToken) =>
        db.Database.ExecuteSqlAsync($"DELETE FROM workers WHERE worker_id = {workerId}", cancellationToken);

    /// <summary>
    /// Deletes at most <paramref name="max"/> workers silent for longer than <paramref name="silentFor"/> (killed, or
    /// stopped without reaching their last statement), stalest first; returns their ids. Safe in every instance at once.
    /// </summary>
    public static Task<List<string>> PruneSilent(PlatformDbContext db, TimeSpan silentFor, int max, CancellationToken cancellationToken) =>
        db.Database.SqlQuery<string>($"""
            DELETE FROM workers
            WHERE worker_id IN (
                SELECT worker_id FROM workers WHERE heartbeat_at < now() - {silentFor}
                ORDER BY heartbeat_at LIMIT {max} FOR UPDATE SKIP LOCKED)
            RETURNING worker_id AS "Value"
            """).ToListAsync(cancellationToken);
}
