using MassTransit;
using Platform.Contracts;
using Platform.ServiceDefaults;

namespace Platform.Worker.Execution;

/// <summary>Stops this instance's running tasks of a cancelled batch; <see cref="TaskRunner"/> then records each one cancelled.</summary>
public sealed partial class BatchCancellationConsumer(RunningTasks running, ILogger<BatchCancellationConsumer> logger) :
    IConsumer<BatchCancellationRequested>
{
    public Task Consume(ConsumeContext<BatchCancellationRequested> context)
    {
        var stopped = running.CancelBatch(context.Message.BatchId);
        if (stopped > 0)
            LogStopping(logger, stopped, context.Message.BatchId, (DateTimeOffset.UtcNow - context.Message.Timestamp).TotalMilliseconds);
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping {Count} running task(s) of cancelled batch {BatchId} ({AgeMs:0} ms after the request)")]
    static partial void LogStopping(ILogger logger, int count, Guid batchId, double ageMs);
}

public sealed class BatchCancellationConsumerDefinition : ConsumerDefinition<BatchCancellationConsumer>
{
    public BatchCancellationConsumerDefinition()
    {
        // Every worker instance must hear every cancellation, not one of them: each has its own queue bound to the
        // event's exchange (a fan-out). The queue lives as long as the instance; what it would have stopped after a
        // crash, the orchestrator's reconciler ends.
        Endpoint(e =>
        {
            e.Name = "batch-cancellation";
            e.InstanceId = ServiceInstance.Id;
            e.Temporary = true;
        });
    }
}
