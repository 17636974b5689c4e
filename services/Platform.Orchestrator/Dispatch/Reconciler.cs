using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Platform.Data;
using Platform.Data.Tiers;
using Platform.Dispatch;
using Platform.Orchestrator.StateMachines;
using Platform.Data.Cancellation;

namespace Platform.Orchestrator.Dispatch;

public sealed class ReconcilerOptions
{
    public const string Section = "Platform:Reconciler";

    /// <summary>How often users with room and ready work get a dispatch decision even without an event.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// A batch with a terminal task its saga has not counted after this long is recounted (one BatchTasksEnded). Short:
    /// a worker's BatchTasksEnded does not go through the outbox, so one lost to a crash is repaired only by this.
    /// </summary>
    public TimeSpan RecountAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long the workers have to stop a cancelled batch's running tasks before the reconciler ends them itself (the
    /// notification was lost, or the worker running them is dead).
    /// </summary>
    public TimeSpan CancelGrace { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Cancelled batches settled per pass; the rest wait for the next pass.</summary>
    public int MaxCancelledBatchesPerPass { get; set; } = 100;

    /// <summary>Silent workers' rows deleted per pass (<see cref="FleetOptions.PruneAfter"/>); the rest wait for the next pass.</summary>
    public int MaxPrunedWorkersPerPass { get; set; } = 100;
}

/// <summary>
/// Repairs what a lost or delayed notification left behind. Every interval it ends the running tasks of batches whose
/// cancellation the workers have not finished within the grace period, takes back attempts that ran past the maximum
/// run time (<see cref="OverdueTasks"/>), recounts the batches whose saga has not counted tasks that ended
/// (<see cref="UncountedTasks"/>), then marks ready each user who has both a free slot and a task ready to run (a retry
/// whose time has come, an event lost to a crash) and gives out the fleet's free units in one decision, so a pass costs
/// one decision however many users wait. Safe to run in every instance:
/// every transition is conditional, overdue rows are claimed <c>SKIP LOCKED</c>, and
/// the fleet's lock makes concurrent decisions take turns.
/// </summary>
public sealed partial class Reconciler(
    IServiceScopeFactory scopes,
    IOptionsMonitor<TierOptions> tiers,
    TimeProvider clock,
    IOptions<ReconcilerOptions> options,
    IOptions<FleetOptions> fleet,
    ILogger<Reconciler> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            // Each repair on its own: one that fails must not hold up the other.
            await Repair(EndOverdueCancellations, stoppingToken);
            await Repair(ReconcileOnce, stoppingToken);
            await Repair(PruneSilentWorkers, stoppingToken);
        }
    }

    async Task Repair(Func<CancellationToken, Task> repair, CancellationToken stoppingToken)
    {
        try
        {
            await repair(stoppingToken);
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            LogReconcileFailed(logger, ex);
        }
    }

    /// <summary>Ends the running tasks of batches cancelled more than the grace period ago; returns how many.</summary>
    public async Task<int> EndOverdueCancellations(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        var now = clock.GetUtcNow();
        var ended = await BatchCancellation.EndOverdue(db, now - options.Value.CancelGrace, now, options.Value.MaxCancelledBatchesPerPass,
            cancellationToken);
        foreach (var task in ended)
            LogCancelledOverdue(logger, task.TaskId, task.BatchId, options.Value.CancelGrace.TotalSeconds);
        return ended.Count;
    }

    /// <summary>
    /// Deletes the registry rows of workers that stopped heartbeating long ago (killed: a graceful stop removes its own
    /// row). They stopped counting towards the fleet after <see cref="FleetOptions.WorkerTimeout"/> already; this only
    /// keeps the table bounded by the instances alive, a bounded number per pass.
    /// </summary>
    public async Task<int> PruneSilentWorkers(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var pruned = await WorkerRegistry.PruneSilent(scope.ServiceProvider.GetRequiredService<PlatformDbContext>(), fleet.Value.PruneAfter,
            options.Value.MaxPrunedWorkersPerPass, cancellationToken);
        foreach (var worker in pruned)
            LogPrunedWorker(logger, worker, fleet.Value.PruneAfter.TotalSeconds);
        return pruned.Count;
    }

    /// <summary>One pass: how many users it decided for, and how many tasks those decisions dispatched.</summary>
    public async Task<(int Users, int Dispatched)> ReconcileOnce(CancellationToken cancellationToken)
    {
        List<string> users;
        await using (var scope = scopes.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<OverdueTasks>().TakeBack(cancellationToken);
            await scope.ServiceProvider.GetRequiredService<UncountedTasks>().Republish(cancellationToken);
            users = await UsersWithWorkAndRoom(scope.ServiceProvider.GetRequiredService<PlatformDbContext>(), cancellationToken);
        }

        // One decision for all of them: each is marked ready, and fair share gives out whatever the fleet has free (a
        // worker that joined, a unit freed without a refill), however many users wait.
        var dispatched = 0;
        if (users.Count > 0)
        {
            await using var scope = scopes.CreateAsyncScope();
            dispatched = await scope.ServiceProvider.GetRequiredService<UserWorkQueue>().FillFleet(users, cancellationToken);
        }

        if (dispatched > 0)
            LogReconciled(logger, dispatched, users.Count);
        return (users.Count, dispatched);
    }

    /// <summary>Users with fewer tasks in flight than their tier allows and a queued task whose time has come.</summary>
    Task<List<string>> UsersWithWorkAndRoom(PlatformDbContext db, CancellationToken cancellationToken)
    {
        var (names, concurrency, ownKeyConcurrency, _) = tiers.CurrentValue.Columns();
        var now = clock.GetUtcNow();
        return db.Database.SqlQuery<string>($"""
            SELECT u.user_id AS "Value"
            FROM (SELECT DISTINCT user_id FROM batches WHERE open) o
            JOIN users u ON u.user_id = o.user_id
            JOIN unnest({names}, {concurrency}, {ownKeyConcurrency}) AS tier(name, concurrency, own_key_concurrency) ON tier.name = lower(u.tier)
            WHERE (SELECT count(*) FROM tasks t WHERE t.user_id = u.user_id AND t.status = 'running')
                  < CASE WHEN u.own_provider_key THEN tier.own_key_concurrency ELSE tier.concurrency END
              AND EXISTS (
                  SELECT 1 FROM batches b JOIN tasks t ON t.batch_id = b.batch_id
                  WHERE b.user_id = u.user_id AND b.open AND t.status = 'queued' AND (t.not_before IS NULL OR t.not_before <= {now}))
            """).ToListAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reconciler pass failed; the next pass retries")]
    static partial void LogReconcileFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Reconciler dispatched {Dispatched} task(s) for {Users} user(s) with free slots and ready tasks")]
    static partial void LogReconciled(ILogger logger, int dispatched, int users);

    [LoggerMessage(Level = LogLevel.Information, Message = "Reconciler removed worker {Worker} from the fleet registry: silent for over {Seconds:0} s")]
    static partial void LogPrunedWorker(ILogger logger, string worker, double seconds);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Reconciler cancelled task {TaskId} of batch {BatchId}: still running {GraceSeconds:0.#} s after the batch's cancellation (notification lost or worker gone)")]
    static partial void LogCancelledOverdue(ILogger logger, Guid taskId, Guid batchId, double graceSeconds);
}
