using System.Collections.Concurrent;
using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Options;
using Platform.Contracts;
using Platform.Data;
using Platform.Dispatch;
using Platform.ServiceDefaults;

namespace Platform.Worker.Execution;

/// <summary>
/// What this worker has to tell the batch sagas: that a batch started (its first task here), and that tasks of a batch
/// ended. Ends are gathered per batch: the saga counts from the task rows, so one <see cref="BatchTasksEnded"/> stands
/// for all of a batch's tasks that ended since the last one (<see cref="BatchEndNoticeSender"/> sends them).
/// </summary>
public sealed class BatchEndNotices : IDisposable
{
    /// <summary>How many batches <see cref="FirstStart"/> remembers; past it, it forgets them all (a few repeated TaskStarted).</summary>
    const int RememberedStarts = 10_000;

    readonly ConcurrentDictionary<Guid, Notice> _pending = new();
    readonly ConcurrentDictionary<Guid, bool> _started = new();
    readonly Doorbell _ended = new();

    /// <summary>
    /// Whether this is the first task of <paramref name="batchId"/> this process starts: only that one is announced
    /// with <see cref="TaskStarted"/>, which moves the saga to running. Other workers' and repeats are no-ops to it.
    /// </summary>
    public bool FirstStart(Guid batchId)
    {
        if (_started.Count >= RememberedStarts)
            _started.Clear();
        return _started.TryAdd(batchId, true);
    }

    /// <summary>
    /// Announces <paramref name="task"/>'s start in <paramref name="db"/>'s outbox (the caller commits) if it is the first of
    /// its batch this process starts.
    /// </summary>
    public void AnnounceStart(PlatformDbContext db, ClaimedTask task)
    {
        if (FirstStart(task.BatchId))
            db.Publish(new TaskStarted(task.TaskId, task.BatchId, task.UserId, task.Slot, task.Attempts, task.StartedAt));
    }

    /// <summary>Tasks of <paramref name="batchId"/> ended in a transaction that has committed.</summary>
    /// <remarks>The notice continues the trace of the latest of them (<paramref name="trace"/>: the task's run).</remarks>
    public void Ended(Guid batchId, string userId, DateTimeOffset at, ActivityContext trace)
    {
        var notice = new Notice(new BatchTasksEnded(batchId, userId, at), trace);
        _pending.AddOrUpdate(batchId, notice, (_, earlier) => earlier.Message.Timestamp > at ? earlier : notice);
        _ended.Ring();
    }

    /// <summary>The batches with ends not yet told, by batch.</summary>
    public IReadOnlyCollection<Guid> Pending => [.. _pending.Keys];

    /// <summary>Waits until something is pending.</summary>
    public Task WaitAsync(CancellationToken cancellationToken) => _ended.Wait(cancellationToken);

    /// <summary>Everything pending, removed.</summary>
    public List<Notice> TakeAll()
    {
        var notices = new List<Notice>();
        foreach (var batchId in _pending.Keys)
        {
            if (_pending.TryRemove(batchId, out var notice))
                notices.Add(notice);
        }

        return notices;
    }

    /// <summary>Notices that could not be sent, pending again (a newer one of the same batch stands for both).</summary>
    public void GiveBack(IEnumerable<Notice> notices)
    {
        foreach (var notice in notices)
            _pending.TryAdd(notice.Message.BatchId, notice);
        _ended.Ring();
    }

    public void Dispose() => _ended.Dispose();

    public sealed record Notice(BatchTasksEnded Message, ActivityContext Trace);
}

/// <summary>
/// Sends <see cref="BatchEndNotices"/>' notices: a quiet batch's first end at once, then at most one per batch per
/// <see cref="WorkerOptions.EndNoticeWindow"/>. Straight to the bus, after the ends committed: a notice lost with this
/// process (or to a broker outage) only delays the count until the orchestrator's recount finds the uncounted rows.
/// </summary>
public sealed partial class BatchEndNoticeSender(BatchEndNotices notices, IBus bus, IOptions<WorkerOptions> options,
    ILogger<BatchEndNoticeSender> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await notices.WaitAsync(stoppingToken);
                await Send(stoppingToken);
                // What ends during the window shares the next notice.
                await Task.Delay(options.Value.EndNoticeWindow, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }

        // Stopping: whatever ended since the last send still goes, so a graceful stop leaves nothing to the recount.
        await Send(CancellationToken.None);
    }

    async Task Send(CancellationToken cancellationToken)
    {
        var pending = notices.TakeAll();
        if (pending.Count == 0)
            return;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(15));
            await Task.WhenAll(pending.Select(n => Publish(n, timeout.Token)));
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            notices.GiveBack(pending);
            LogSendFailed(logger, pending.Count, ex);
        }
    }

    async Task Publish(BatchEndNotices.Notice notice, CancellationToken cancellationToken)
    {
        using var activity = notice.Trace == default
            ? null
            : WorkerTelemetry.Source.StartActivity("notify batch tasks ended", ActivityKind.Internal, notice.Trace);
        activity?.SetTag(PlatformTags.BatchId, notice.Message.BatchId);
        await bus.Publish(notice.Message, cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not tell the sagas that tasks of {Batches} batches ended; trying again")]
    static partial void LogSendFailed(ILogger logger, int batches, Exception exception);
}
