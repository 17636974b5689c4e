using System.Diagnostics;
using System.Threading.Channels;
using Platform.Data;
using Platform.Dispatch;

namespace Platform.Worker.Execution;

/// <summary>
/// Records this worker's ended tasks in groups: whatever ends while one group's transaction runs goes into the next, and
/// a group is one decision (<see cref="UserWorkQueue.Refill(IReadOnlyList{Freeing}, CancellationToken)"/>), so the fleet's
/// lock and the commit's flush are paid once per group rather than once per task. An idle worker's group is one task,
/// recorded at once: nothing waits to fill a group.
/// </summary>
public sealed partial class TaskEnds : IDisposable
{
    /// <summary>At most this many ends per transaction: more than a worker's usual capacity, fewer than a lock should be held for.</summary>
    const int MaxGroup = 64;

    readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    readonly IServiceScopeFactory _scopes;
    readonly BatchEndNotices _notices;
    readonly ILogger<TaskEnds> _logger;
    readonly Task _loop;

    public TaskEnds(IServiceScopeFactory scopes, BatchEndNotices notices, ILogger<TaskEnds> logger)
    {
        _scopes = scopes;
        _notices = notices;
        _logger = logger;
        _loop = Task.Run(Loop);
    }

    /// <summary>
    /// Ends the task (its conditional transition, quota change and budget settlement are in <paramref name="end"/>) and gives
    /// out the unit it frees, with the ends of the worker's other tasks in the same group; returns whether it ended (not when
    /// the attempt was superseded) and the task handed over to its lease, started already. The batch's saga is told once
    /// the group committed.
    /// </summary>
    public Task<Recorded> Record(Freeing end, Guid batchId, DateTimeOffset at)
    {
        var pending = new Pending(end, batchId, at, Activity.Current?.Context ?? default,
            new TaskCompletionSource<Recorded>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_queue.Writer.TryWrite(pending))
            throw new ObjectDisposedException(nameof(TaskEnds), "The worker is stopping: no more task ends are recorded here.");
        return pending.Done.Task;
    }

    async Task Loop()
    {
        var group = new List<Pending>();
        while (await _queue.Reader.WaitToReadAsync())
        {
            group.Clear();
            while (group.Count < MaxGroup && _queue.Reader.TryRead(out var pending))
                group.Add(pending);
            if (group.Count > 0)
                await Commit(group);
        }
    }

    /// <summary>One transaction for the group; when one of its ends no longer applies, each again on its own.</summary>
    async Task Commit(List<Pending> group)
    {
        try
        {
            if (await TryCommit(group))
                return;
            if (group.Count == 1)
            {
                group[0].Done.TrySetResult(Recorded.NotEnded);
                return;
            }

            // Rare: an attempt was superseded (taken over, or ended by the reconciler) while it ran.
            foreach (var pending in group)
            {
                if (!await TryCommit([pending]))
                    pending.Done.TrySetResult(Recorded.NotEnded);
            }
        }
        catch (Exception ex)
        {
            LogGroupFailed(_logger, group.Count, ex);
            foreach (var pending in group)
                pending.Done.TrySetException(ex);
        }
    }

    async Task<bool> TryCommit(List<Pending> group)
    {
        // Under the first end's trace, linked to the others', so each task's trace shows where it was recorded.
        using var activity = WorkerTelemetry.Source.StartActivity("record task ends", ActivityKind.Internal, group[0].Trace,
            links: group.Skip(1).Where(p => p.Trace != default).Select(p => new ActivityLink(p.Trace)));
        activity?.SetTag("platform.task_ends", group.Count);

        await using var scope = _scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        var workQueue = scope.ServiceProvider.GetRequiredService<UserWorkQueue>();
        Refilled refilled;
        await using (var tx = await db.Database.BeginTransactionAsync())
        {
            refilled = await workQueue.Refill([.. group.Select(p => p.End)], CancellationToken.None);
            if (!refilled.TasksEnded)
                return false; // rolled back with the transaction

            foreach (var next in refilled.HandedOver.Values)
                _notices.AnnounceStart(db, next);
            await db.SaveChangesAsync(); // the outbox rows: any ExecuteTask, a batch's first start here
            await tx.CommitAsync();
        }

        foreach (var pending in group)
        {
            _notices.Ended(pending.BatchId, pending.End.UserId, pending.At, pending.Trace);
            var next = pending.End.HandOver is { } handOver ? refilled.HandedOver.GetValueOrDefault(handOver.LeaseId) : null;
            pending.Done.TrySetResult(new Recorded(true, next));
        }

        return true;
    }

    public void Dispose()
    {
        _queue.Writer.TryComplete();
        _loop.Wait(TimeSpan.FromSeconds(30));
    }

    sealed record Pending(Freeing End, Guid BatchId, DateTimeOffset At, ActivityContext Trace, TaskCompletionSource<Recorded> Done);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recording {Count} task ends failed; their deliveries are retried")]
    static partial void LogGroupFailed(ILogger logger, int count, Exception exception);
}

/// <summary>What <see cref="TaskEnds.Record"/> did: whether the task ended, and the task its lease runs next, if any.</summary>
public sealed record Recorded(bool Ended, ClaimedTask? Next)
{
    public static readonly Recorded NotEnded = new(false, null);
}
