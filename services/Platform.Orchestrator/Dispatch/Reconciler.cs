using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Platform.Data;
using Platform.Data.Cancellation;

namespace Platform.Orchestrator.Dispatch;

public sealed class ReconcilerOptions
{
    public const string Section = "Platform:Reconciler";

    /// <summary>How often every user with open batches gets a dispatch decision even without an event.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long the workers have to stop a cancelled batch's running tasks before the reconciler ends them itself (the
    /// notification was lost, or the worker running them is dead).
    /// </summary>
    public TimeSpan CancelGrace { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Cancelled batches settled per pass; the rest wait for the next pass.</summary>
    public int MaxCancelledBatchesPerPass { get; set; } = 100;
}

/// <summary>
/// Repairs what a lost or delayed notification left behind: every interval, ends the running tasks of batches whose
/// cancellation the workers have not finished within the grace period, then fills the free slots of each user who has
/// open batches (tasks whose retry time has come, events lost to a crash). Safe to run in every instance: every
/// transition is conditional, and the work queue's lock makes concurrent decisions for a user take turns.
/// </summary>
public sealed partial class Reconciler(
    IServiceScopeFactory scopes,
    DispatchGate gate,
    TimeProvider clock,
    IOptions<ReconcilerOptions> options,
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
        }
    }

    async Task Repair(Func<CancellationToken, Task<int>> repair, CancellationToken stoppingToken)
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

    public async Task<int> ReconcileOnce(CancellationToken cancellationToken)
    {
        List<string> users;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
            users = await db.Batches.Where(b => b.Open).Select(b => b.UserId).Distinct().ToListAsync(cancellationToken);
        }

        var dispatched = 0;
        foreach (var userId in users)
        {
            await using var scope = scopes.CreateAsyncScope();
            dispatched += await gate.Decide(userId, ct => scope.ServiceProvider.GetRequiredService<UserWorkQueue>().FillSlots(userId, ct), cancellationToken);
        }

        if (dispatched > 0)
            LogReconciled(logger, dispatched, users.Count);
        return dispatched;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reconciler pass failed; the next pass retries")]
    static partial void LogReconcileFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Reconciler dispatched {Dispatched} task(s) across {Users} user(s) with open batches")]
    static partial void LogReconciled(ILogger logger, int dispatched, int users);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Reconciler cancelled task {TaskId} of batch {BatchId}: still running {GraceSeconds:0.#} s after the batch's cancellation (notification lost or worker gone)")]
    static partial void LogCancelledOverdue(ILogger logger, Guid taskId, Guid batchId, double graceSeconds);
}
