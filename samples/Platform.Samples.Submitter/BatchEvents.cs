using MassTransit;
using Microsoft.Extensions.Logging;
using Platform.Contracts;

namespace Platform.Samples.Submitter;

/// <summary>
/// The one batch this process submitted: its id, the platform's answer and its end. Every batch's events reach this
/// process's queue, so everything is filtered by <see cref="BatchId"/>.
/// </summary>
public sealed class BatchWatch
{
    readonly TaskCompletionSource<object> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly TaskCompletionSource<BatchFinished> _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly Lock _progress = new();
    int _reportedTenths = -1;

    /// <summary>Chosen here, so that a resent <see cref="SubmitBatch"/> is the same batch.</summary>
    public Guid BatchId { get; } = NewId.NextGuid();

    /// <summary><see cref="BatchSubmitted"/> or <see cref="BatchRejected"/>.</summary>
    public Task<object> Answer => _answer.Task;

    public Task<BatchFinished> Finished => _finished.Task;

    public void Answered(object answer) => _answer.TrySetResult(answer);

    public void Ended(BatchFinished finished) => _finished.TrySetResult(finished);

    /// <summary>Whether this progress crosses another tenth of the batch: a 10,000-task batch reports ten times, not 10,000.</summary>
    public bool ShouldReport(BatchProgressed progress)
    {
        var tenths = progress.Total == 0 ? 10 : (progress.Completed + progress.Failed + progress.Cancelled) * 10 / progress.Total;
        lock (_progress)
        {
            if (tenths <= _reportedTenths)
                return false;
            _reportedTenths = tenths;
            return true;
        }
    }
}

/// <summary>The platform's events about batches, as any service outside it hears them: on a queue of its own.</summary>
public sealed partial class BatchEventsConsumer(BatchWatch watch, ILogger<BatchEventsConsumer> logger) :
    IConsumer<BatchSubmitted>,
    IConsumer<BatchRejected>,
    IConsumer<BatchProgressed>,
    IConsumer<BatchFinished>
{
    public Task Consume(ConsumeContext<BatchSubmitted> context)
    {
        if (context.Message.BatchId == watch.BatchId)
            watch.Answered(context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<BatchRejected> context)
    {
        if (context.Message.BatchId == watch.BatchId)
            watch.Answered(context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<BatchProgressed> context)
    {
        var m = context.Message;
        if (m.BatchId == watch.BatchId && watch.ShouldReport(m))
            LogProgress(logger, m.BatchId, m.Status, m.Completed, m.Failed, m.Cancelled, m.Total);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<BatchFinished> context)
    {
        if (context.Message.BatchId == watch.BatchId)
            watch.Ended(context.Message);
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Batch {BatchId} progress: {Status}, {Completed} completed, {Failed} failed, {Cancelled} cancelled of {Total}")]
    static partial void LogProgress(ILogger logger, Guid batchId, string status, int completed, int failed, int cancelled, int total);
}

public sealed class BatchEventsConsumerDefinition : ConsumerDefinition<BatchEventsConsumer>
{
    public BatchEventsConsumerDefinition()
    {
        // One at a time, in the order they arrive: progress then reads forwards.
        ConcurrentMessageLimit = 1;
        // A queue for this process alone, bound to the four events' exchanges, deleted when the process ends: two
        // samples running at once each hear every event. A long-running service would use one durable queue instead
        // (no InstanceId, not Temporary), so that events published while it is down wait for it.
        Endpoint(e =>
        {
            e.Name = "sample-batch-events";
            e.InstanceId = NewId.Next().ToString(MassTransit.NewIdFormatters.ZBase32Formatter.LowerCase);
            e.Temporary = true;
        });
    }
}
