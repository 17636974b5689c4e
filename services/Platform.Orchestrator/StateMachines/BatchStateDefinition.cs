using MassTransit;
using Platform.Data.Sagas;

namespace Platform.Orchestrator.StateMachines;

public sealed class BatchStateDefinition : SagaDefinition<BatchState>
{
    public const string QueueName = "batch-state";
    public const int ConcurrencyLimit = 32;

    public BatchStateDefinition()
    {
        Endpoint(e => e.Name = QueueName);
        ConcurrentMessageLimit = ConcurrencyLimit;
    }

    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator, ISagaConfigurator<BatchState> sagaConfigurator,
        IRegistrationContext context)
    {
        ConfigureDelivery(endpointConfigurator, context);

        // One batch's events run one at a time in this process (the row lock serializes them across processes).
        var partition = endpointConfigurator.CreatePartitioner(ConcurrentMessageLimit ?? ConcurrencyLimit);
        sagaConfigurator.Message<Platform.Contracts.BatchSubmitted>(x => x.UsePartitioner(partition, m => m.Message.BatchId));
        sagaConfigurator.Message<Platform.Contracts.TaskStarted>(x => x.UsePartitioner(partition, m => m.Message.BatchId));
        sagaConfigurator.Message<Platform.Contracts.TaskCompleted>(x => x.UsePartitioner(partition, m => m.Message.BatchId));
        sagaConfigurator.Message<Platform.Contracts.TaskFailed>(x => x.UsePartitioner(partition, m => m.Message.BatchId));
        sagaConfigurator.Message<Platform.Contracts.TaskCancelled>(x => x.UsePartitioner(partition, m => m.Message.BatchId));
        sagaConfigurator.Message<Platform.Contracts.BatchTasksEnded>(x => x.UsePartitioner(partition, m => m.Message.BatchId));
        sagaConfigurator.Message<Platform.Contracts.BatchCancellationRequested>(x => x.UsePartitioner(partition, m => m.Message.BatchId));
    }

    /// <summary>
    /// Retry and outbox of the saga endpoint, without the partitioner: public so that the repository's tests run the
    /// production delivery policy with the row lock as the only guard between concurrent events.
    /// </summary>
    public static void ConfigureDelivery(IReceiveEndpointConfigurator endpointConfigurator, IRegistrationContext context)
    {
        // Redelivery covers lock timeouts, a lost race to insert the instance, and task events that overtook BatchSubmitted.
        endpointConfigurator.UseMessageRetry(r => r.Exponential(10, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100)));
        // BatchProgressed / BatchFinished leave only after the saga's transaction has committed.
        endpointConfigurator.UseInMemoryOutbox(context);
    }
}
