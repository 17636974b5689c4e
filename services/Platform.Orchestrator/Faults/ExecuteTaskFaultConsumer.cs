using MassTransit;
using Microsoft.EntityFrameworkCore;
using Platform.Contracts;
using Platform.Data;

namespace Platform.Orchestrator.Faults;

/// <summary>
/// A task whose <see cref="ExecuteTask"/> could not be processed at all (the worker's consumer gave up, so the message
/// sits in <c>execute-task_error</c> for an operator) still reaches a terminal state: failed, with the worker's error,
/// its quota reservation released and <see cref="TaskFailed"/> published through the outbox, in one transaction, so
/// the batch saga counts it and the user's slot refills. The task is the one that carries the faulted delivery's lease
/// (the delivery's own task, or one a worker handed over to it), and only while it is running, so a duplicate or late
/// fault changes nothing: a task dispatched again gets a new lease.
/// </summary>
public sealed partial class ExecuteTaskFaultConsumer(PlatformDbContext db, TimeProvider clock, ILogger<ExecuteTaskFaultConsumer> logger)
    : IConsumer<Fault<ExecuteTask>>
{
    public async Task Consume(ConsumeContext<Fault<ExecuteTask>> context)
    {
        var command = context.Message.Message;
        var error = Describe(context.Message);
        var now = clock.GetUtcNow();
        var cancellationToken = context.CancellationToken;

        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var failed = await db.Database.SqlQuery<Failed>($"""
            UPDATE tasks SET status = 'failed', finished_at = {now}, error = {error}
            WHERE lease_id = {command.LeaseId} AND status = 'running'
            RETURNING task_id AS "TaskId", batch_id AS "BatchId", user_id AS "UserId", attempts AS "Attempts", slot AS "Slot"
            """).ToListAsync(cancellationToken);
        if (failed.Count == 0)
        {
            LogIgnored(logger, command.TaskId, command.LeaseId);
            return;
        }

        // The row says whose task it is: a lease runs whichever user's task its unit of the fleet was given to.
        var task = failed[0];
        await Quota.Release(db, task.UserId, 1, cancellationToken);
        db.Publish(new TaskFailed(task.TaskId, task.BatchId, task.UserId, task.Slot, error, task.Attempts, now));
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        LogFailed(logger, task.TaskId, error);
    }

    static string Describe(Fault<ExecuteTask> fault)
    {
        var exception = fault.Exceptions.FirstOrDefault();
        if (exception is null)
            return "the worker could not process the task";
        var type = exception.ExceptionType[(exception.ExceptionType.LastIndexOf('.') + 1)..];
        return $"the worker could not process the task: {type}: {exception.Message}";
    }

    sealed record Failed(Guid TaskId, Guid BatchId, string UserId, int Attempts, int? Slot);

    [LoggerMessage(Level = LogLevel.Information, Message = "Fault for the delivery of task {TaskId} ignored: no running task carries its lease {LeaseId}")]
    static partial void LogIgnored(ILogger logger, Guid taskId, Guid leaseId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId} failed because its ExecuteTask faulted: {Error}")]
    static partial void LogFailed(ILogger logger, Guid taskId, string error);
}

public sealed class ExecuteTaskFaultConsumerDefinition : ConsumerDefinition<ExecuteTaskFaultConsumer>
{
    public ExecuteTaskFaultConsumerDefinition()
    {
        EndpointName = "execute-task-fault";
        ConcurrentMessageLimit = 8;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<ExecuteTaskFaultConsumer> consumerConfigurator, IRegistrationContext context)
    {
        // Long enough to outlast a database restart: a fault that reaches this endpoint's own _error leaves the task
        // running until the reconciler's run-time limit takes it back.
        endpointConfigurator.UseMessageRetry(r => r.Exponential(10, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(200)));
    }
}
