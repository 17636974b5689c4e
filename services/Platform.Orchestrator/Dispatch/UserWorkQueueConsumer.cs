using System.Diagnostics;
using MassTransit;
using Platform.Contracts;
using Platform.Dispatch;

namespace Platform.Orchestrator.Dispatch;

/// <summary>
/// Every event that may free or add a slot, or add work, asks the user's work queue to fill the user's slots. Not
/// <see cref="TaskCompleted"/>: a worker refills the slot in the transaction that completes the task.
/// </summary>
public sealed partial class UserWorkQueueConsumer(UserWorkQueue queue, DispatchGate gate, TimeProvider clock, ILogger<UserWorkQueueConsumer> logger) :
    IConsumer<BatchSubmitted>,
    IConsumer<TaskFailed>,
    IConsumer<TaskCancelled>,
    IConsumer<TaskRetrying>,
    IConsumer<UserTierChanged>
{
    public Task Consume(ConsumeContext<BatchSubmitted> context) => Fill(context, context.Message.UserId, context.Message.Timestamp);
    public Task Consume(ConsumeContext<TaskFailed> context) => Fill(context, context.Message.UserId, context.Message.Timestamp);
    // A task cancelled while queued held no slot: a 10,000-task batch's cancellation must not cost 10,000 decisions.
    public Task Consume(ConsumeContext<TaskCancelled> context) =>
        context.Message.Slot is null ? Task.CompletedTask : Fill(context, context.Message.UserId, context.Message.Timestamp);
    public Task Consume(ConsumeContext<TaskRetrying> context) => Fill(context, context.Message.UserId, context.Message.Timestamp);
    public Task Consume(ConsumeContext<UserTierChanged> context) => Fill(context, context.Message.UserId, context.Message.Timestamp);

    async Task Fill<T>(ConsumeContext<T> context, string userId, DateTimeOffset happenedAt) where T : class
    {
        var received = clock.GetUtcNow();
        var watch = Stopwatch.StartNew();
        var dispatched = await gate.Decide(userId, ct => queue.FillSlots(userId, ct), context.CancellationToken);
        if (dispatched > 0)
        {
            DispatchTelemetry.Latency.Record((clock.GetUtcNow() - happenedAt).TotalMilliseconds,
                new KeyValuePair<string, object?>("platform.dispatch.trigger", typeof(T).Name));
            LogDispatched(logger, dispatched, userId, typeof(T).Name, (received - happenedAt).TotalMilliseconds, watch.Elapsed.TotalMilliseconds);
        }
    }

    // Debug: one line per decision is the hot path's business only when someone is looking at dispatch latency.
    [LoggerMessage(Level = LogLevel.Debug,
        Message = "Dispatched {Dispatched} task(s) for {UserId} on {Trigger} ({AgeMs:0} ms after it happened; decision took {DecisionMs:0} ms)")]
    static partial void LogDispatched(ILogger logger, int dispatched, string userId, string trigger, double ageMs, double decisionMs);
}

public sealed class UserWorkQueueConsumerDefinition : ConsumerDefinition<UserWorkQueueConsumer>
{
    public UserWorkQueueConsumerDefinition()
    {
        EndpointName = "user-work-queue";
        ConcurrentMessageLimit = 32;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<UserWorkQueueConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseMessageRetry(r => r.Exponential(10, TimeSpan.FromMilliseconds(20), TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(50)));

        // No partitioner: the DispatchGate serializes one user's decisions and folds a burst of that user's events
        // into one decision, so a busy user's events never queue up in front of another user's first batch.
    }
}
