using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Platform.Data;
using Platform.Orchestrator.StateMachines;

namespace Platform.Orchestrator.Dispatch;

public sealed class ReconcilerOptions
{
    public const string Section = "Platform:Reconciler";

    /// <summary>How often every user with open batches gets a dispatch decision even without an event.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A terminal task its batch saga has not counted after this long gets its event published again.</summary>
    public TimeSpan RecountAfter { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// Repairs what a lost or delayed notification left behind: every interval, takes back attempts that ran past the
/// maximum run time (<see cref="OverdueTasks"/>), publishes again the terminal events a batch saga never counted
/// (<see cref="UncountedTasks"/>), then fills the free slots of each user who has open batches (tasks
/// whose retry time has come, events lost to a crash). Safe to run in every instance: overdue rows are claimed
/// <c>SKIP LOCKED</c>, and the dispatch lock makes concurrent decisions for a user take turns.
/// </summary>
public sealed partial class Reconciler(
    IServiceScopeFactory scopes,
    DispatchGate gate,
    IOptions<ReconcilerOptions> options,
    ILogger<Reconciler> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await ReconcileOnce(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogReconcileFailed(logger, ex);
            }
        }
    }

    public async Task<int> ReconcileOnce(CancellationToken cancellationToken)
    {
        List<string> users;
        await using (var scope = scopes.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<OverdueTasks>().TakeBack(cancellationToken);
            await scope.ServiceProvider.GetRequiredService<UncountedTasks>().Republish(cancellationToken);
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
}
