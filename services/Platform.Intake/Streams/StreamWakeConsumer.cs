using MassTransit;
using Platform.Contracts;
using Platform.ServiceDefaults;

namespace Platform.Intake.Streams;

/// <summary>
/// Turns the platform's events into wake-ups for this instance's streams. Every intake instance hears every event (each
/// on its own temporary queue), so any instance serves any stream; what the stream sends, it reads from the database.
/// The terminal task events themselves are not consumed: the saga's <see cref="BatchProgressed"/> follows each of them.
/// </summary>
public sealed class StreamWakeConsumer(StreamSignals signals) :
    IConsumer<BatchSubmitted>,
    IConsumer<TaskStarted>,
    IConsumer<TaskRetrying>,
    IConsumer<BatchProgressed>,
    IConsumer<BatchFinished>,
    IConsumer<BatchCancellationRequested>,
    IConsumer<UserTierChanged>
{
    public Task Consume(ConsumeContext<BatchSubmitted> context) => Wake(context.Message.BatchId, context.Message.UserId);

    public Task Consume(ConsumeContext<TaskStarted> context) => Wake(context.Message.BatchId, context.Message.UserId);

    public Task Consume(ConsumeContext<TaskRetrying> context) => Wake(context.Message.BatchId, context.Message.UserId);

    public Task Consume(ConsumeContext<BatchProgressed> context) => Wake(context.Message.BatchId, context.Message.UserId);

    public Task Consume(ConsumeContext<BatchFinished> context) => Wake(context.Message.BatchId, context.Message.UserId);

    public Task Consume(ConsumeContext<BatchCancellationRequested> context) => Wake(context.Message.BatchId, context.Message.UserId);

    public Task Consume(ConsumeContext<UserTierChanged> context) => Wake(null, context.Message.UserId);

    Task Wake(Guid? batchId, string userId)
    {
        signals.Wake(batchId, userId);
        return Task.CompletedTask;
    }
}

public sealed class StreamWakeConsumerDefinition : ConsumerDefinition<StreamWakeConsumer>
{
    public StreamWakeConsumerDefinition()
    {
        // A queue of this instance's own (auto-delete, not durable): it exists while the instance does, and a wake-up lost
        // with it costs only latency, since every stream also reads again on its poll.
        Endpoint(e =>
        {
            e.Name = "intake-streams";
            e.InstanceId = ServiceInstance.Id;
            e.Temporary = true;
            e.PrefetchCount = 200;
        });
    }
}
