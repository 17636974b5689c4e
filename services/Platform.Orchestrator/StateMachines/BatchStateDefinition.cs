using MassTransit;
using Platform.Data.Sagas;

namespace Platform.Orchestrator.StateMachines;

public sealed class BatchStateDefinition : SagaDefinition<BatchState>
{
    public BatchStateDefinition()
    {
        Endpoint(e => e.Name = "batch-state");
        ConcurrentMessageLimit = 32;
    }

    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator, ISagaConfigurator<BatchState> sagaConfigurator,
        IRegistrationContext context)
    {
        // Redelivery covers lock timeouts, a lost race to insert the instance, and task events that overtook BatchSubmitted.
        endpointConfigurator.UseMessageRetry(r => r.Exponential(10, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100)));
        // BatchProgressed / BatchFinished leave only after the saga's transaction has committed.
        endpointConfigurator.UseInMemoryOutbox(context);

        // One batch's events run one at a time in this process (the row lock serializes them across processes).
        var partition = endpointConfigurator.CreatePartitioner(ConcurrentMessageLimit ?? 32);
        sagaConfigurator.Message<Platform.Contracts.BatchSubmitted>(x => x.UsePartitioner(partition, m => m.Message.BatchId));
        sagaConfigurator.Message<Platform.Contracts.TaskStarted>(x => x.UsePartitioner(partition, m => m.Message.BatchId));
        sagaConfigurator.Message<Platform.Contracts.TaskCompleted>(x => x.UsePartitioner(partition, m => m.Message.BatchId));
        sagaConfigurator.Message<Platform.Contracts.TaskFailed>(x => x.UsePartitioner(partition, m => m.Message.BatchId));
        sagaConfigurator.Message<Platform.Contracts.TaskCancelled>(x => x.UsePartitioner(partition, m => m.Message.BatchId));
    }
}
