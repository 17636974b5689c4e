using MassTransit;
using Platform.Contracts;

namespace Platform.Orchestrator.Dispatch;

/// <summary>Every event that may free or add a slot, or add work, asks the user's work queue to fill the user's slots.</summary>
public sealed class UserWorkQueueConsumer(UserWorkQueue queue) :
    IConsumer<BatchSubmitted>,
    IConsumer<TaskCompleted>,
    IConsumer<TaskFailed>,
    IConsumer<TaskCancelled>,
    IConsumer<TaskRetrying>,
    IConsumer<UserTierChanged>
{
    public Task Consume(ConsumeContext<BatchSubmitted> context) => queue.FillSlots(context.Message.UserId, context.CancellationToken);
    public Task Consume(ConsumeContext<TaskCompleted> context) => queue.FillSlots(context.Message.UserId, context.CancellationToken);
    public Task Consume(ConsumeContext<TaskFailed> context) => queue.FillSlots(context.Message.UserId, context.CancellationToken);
    public Task Consume(ConsumeContext<TaskCancelled> context) => queue.FillSlots(context.Message.UserId, context.CancellationToken);
    public Task Consume(ConsumeContext<TaskRetrying> context) => queue.FillSlots(context.Message.UserId, context.CancellationToken);
    public Task Consume(ConsumeContext<UserTierChanged> context) => queue.FillSlots(context.Message.UserId, context.CancellationToken);
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

        // One user's decisions run one at a time in this process, different users in parallel.
        var partition = endpointConfigurator.CreatePartitioner(ConcurrentMessageLimit ?? 32);
        consumerConfigurator.Message<BatchSubmitted>(x => x.UsePartitioner(partition, m => m.Message.UserId));
        consumerConfigurator.Message<TaskCompleted>(x => x.UsePartitioner(partition, m => m.Message.UserId));
        consumerConfigurator.Message<TaskFailed>(x => x.UsePartitioner(partition, m => m.Message.UserId));
        consumerConfigurator.Message<TaskCancelled>(x => x.UsePartitioner(partition, m => m.Message.UserId));
        consumerConfigurator.Message<TaskRetrying>(x => x.UsePartitioner(partition, m => m.Message.UserId));
        consumerConfigurator.Message<UserTierChanged>(x => x.UsePartitioner(partition, m => m.Message.UserId));
    }
}
