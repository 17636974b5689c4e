using MassTransit;
using Microsoft.EntityFrameworkCore;
using Platform.Contracts;
using Platform.Data;

namespace Platform.Orchestrator.Faults;

/// <summary>
/// A task whose <see cref="ExecuteTask"/> could not be processed at all (the worker's consumer gave up, so the message
/// sits in <c>execute-task_error</c> for an operator) still reaches a terminal state: failed, with the worker's error,
/// its quota reservation released and <see cref="TaskFailed"/> published through the outbox, in one transaction, so
/// the batch saga counts it and the user's slot refills. The transition is conditional on the task still running the
/// dispatch that faulted (<c>dispatched_at</c> is the command's timestamp), so a duplicate or late fault changes nothing.
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
            WHERE task_id = {command.TaskId} AND status = 'running' AND dispatched_at <= {command.Timestamp}
            RETURNING attempts AS "Attempts", slot AS "Slot"
            """).ToListAsync(cancellationToken);
        if (failed.Count == 0)
        {
            LogIgnored(logger, command.TaskId);
            return;
        }

        await Quota.Release(db, command.UserId, 1, cancellationToken);
        db.Publish(new TaskFailed(command.TaskId, command.BatchId, command.UserId, failed[0].Slot, error, failed[0].Attempts, now));
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        LogFailed(logger, command.TaskId, error);
    }

    static string Describe(Fault<ExecuteTask> fault)
    {
        var exception = fault.Exceptions.FirstOrDefault();
        if (exception is null)
            return "the worker could not process the task";
        var type = exception.ExceptionType[(exception.ExceptionType.LastIndexOf('.') + 1)..];
        return $"the worker could not process the task: {type}: {exception.Message}";
    }

    sealed record Failed(int Attempts, int? Slot);

    [LoggerMessage(Level = LogLevel.Information, Message = "Fault for task {TaskId} ignored: the task is no longer running that dispatch")]
    static partial void LogIgnored(ILogger logger, Guid taskId);

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
