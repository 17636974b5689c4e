using MassTransit;
using Microsoft.Extensions.Options;
using Platform.Contracts;
using Platform.Worker.Research;

namespace Platform.Worker.Execution;

public sealed class ExecuteTaskConsumer(TaskRunner runner) : IConsumer<ExecuteTask>
{
    // Redelivered: RabbitMQ requeued it when its holder's channel closed without an ack. A retry attempt: this process
    // runs the same delivery again after an infrastructure error. Either may take over the task the lease started.
    public Task Consume(ConsumeContext<ExecuteTask> context) =>
        runner.Run(context.Message, redelivery: context.ReceiveContext.Redelivered || context.GetRetryAttempt() > 0, context.CancellationToken);
}

public sealed class ExecuteTaskConsumerDefinition : ConsumerDefinition<ExecuteTaskConsumer>
{
    public ExecuteTaskConsumerDefinition(IOptions<WorkerOptions> options)
    {
        EndpointName = "execute-task";
        // The queue only ever holds tasks that already own a user's slot, so a worker just runs what it can hold.
        ConcurrentMessageLimit = options.Value.Capacity;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<ExecuteTaskConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.PrefetchCount = ConcurrentMessageLimit ?? 16;
        // Infrastructure hiccups (database failover or restart, lock timeouts) retry the delivery for about 45 s, long
        // enough to ride out a PostgreSQL restart; research failures are handled inside the runner with backoff stored
        // in PostgreSQL.
        // A crashed executor is not a hiccup: its delivery faults at once (to execute-task_error, and Fault<ExecuteTask>
        // tells the orchestrator to end the task failed).
        endpointConfigurator.UseMessageRetry(r =>
        {
            r.Exponential(10, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(1));
            r.Ignore<ExecutorCrashedException>();
        });
    }
}
