using Microsoft.Extensions.Options;
using Platform.Data;

namespace Platform.Worker.Execution;

/// <summary>
/// Keeps this worker in the fleet registry (the <c>workers</c> table): registers at start, heartbeats every
/// <see cref="WorkerOptions.HeartbeatInterval"/>, marks itself stopping the moment the host begins a graceful stop (it
/// takes no new task from then on) and removes its row once stopped. A heartbeat that fails (PostgreSQL restarting) is
/// logged and tried again next tick: nothing waits for it, so it can never stall or crash the worker. See
/// docs/fair-share.md.
/// </summary>
public sealed partial class FleetMembership(
    IServiceScopeFactory scopes,
    IOptions<WorkerOptions> options,
    TimeProvider clock,
    ILogger<FleetMembership> logger) : BackgroundService, IHostedLifecycleService
{
    readonly DateTimeOffset _startedAt = clock.GetUtcNow();

    // Serializes reports, so a heartbeat already under way cannot write "not stopping" after the stop did.
    readonly SemaphoreSlim _reporting = new(1, 1);
    volatile bool _stopping;
    bool _failing;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.HeartbeatInterval, clock);
        do
        {
            await Report(stoppingToken);
        } while (!_stopping && await timer.WaitForNextTickAsync(stoppingToken));
    }

    async Task Report(CancellationToken cancellationToken)
    {
        // A statement that hangs (a server that accepts and never answers) must not hold up the next heartbeats.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Value.HeartbeatInterval * 5);
        try
        {
            await _reporting.WaitAsync(timeout.Token);
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
                await WorkerRegistry.Report(db, TaskRunner.WorkerName, options.Value.Capacity, _startedAt, _stopping, timeout.Token);
            }
            finally
            {
                _reporting.Release();
            }

            if (_failing)
                LogHeartbeatRecovered(logger, TaskRunner.WorkerName);
            _failing = false;
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // The first failure of a streak is a warning; the rest would repeat it every second of an outage.
            if (!_failing)
                LogHeartbeatFailed(logger, ex, TaskRunner.WorkerName);
            _failing = true;
        }
    }

    /// <summary>The host begins to stop: before the bus stops consuming and drains, the fleet stops counting this worker.</summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        await Report(cancellationToken);
        LogLeaving(logger, TaskRunner.WorkerName);
    }

    /// <summary>Every service has stopped (running tasks finished or were abandoned): the row goes.</summary>
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            await WorkerRegistry.Remove(scope.ServiceProvider.GetRequiredService<PlatformDbContext>(), TaskRunner.WorkerName, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The row says "stopping", so it counts for nothing; the reconciler prunes it once it is silent long enough.
            LogRemoveFailed(logger, ex, TaskRunner.WorkerName);
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Dispose()
    {
        _reporting.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker {Worker} could not heartbeat to the fleet registry; retrying every interval")]
    static partial void LogHeartbeatFailed(ILogger logger, Exception exception, string worker);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {Worker} heartbeats to the fleet registry again")]
    static partial void LogHeartbeatRecovered(ILogger logger, string worker);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {Worker} is stopping: the fleet no longer counts its capacity")]
    static partial void LogLeaving(ILogger logger, string worker);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker {Worker} could not remove its fleet registry row; the reconciler prunes it")]
    static partial void LogRemoveFailed(ILogger logger, Exception exception, string worker);
}
