using MassTransit;
using Microsoft.EntityFrameworkCore;
using Platform.Contracts;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Sagas;

namespace Platform.Orchestrator.StateMachines;

/// <summary>Tells the batch saga whether a task's terminal state is new to it, and what that state is.</summary>
public interface ITaskLedger
{
    /// <summary>
    /// Marks the task counted and returns its terminal status, or null when it was counted before (a duplicate or
    /// redelivered event) or is not terminal. The task row, not the event, says which status it ended in.
    /// </summary>
    Task<string?> TryCount(Guid taskId, Guid batchId, string reportedStatus, CancellationToken cancellationToken);
}

/// <summary>
/// The ledger in the task rows. It runs on the saga repository's <see cref="PlatformDbContext"/> and transaction,
/// so "counted" and the saga's counters commit together or not at all.
/// </summary>
public sealed class TaskRowLedger(PlatformDbContext db) : ITaskLedger
{
    public async Task<string?> TryCount(Guid taskId, Guid batchId, string reportedStatus, CancellationToken cancellationToken)
    {
        var statuses = await db.Database.SqlQuery<string>($"""
            UPDATE tasks SET counted = true
            WHERE task_id = {taskId} AND batch_id = {batchId} AND NOT counted
              AND status IN ({TaskStatuses.Completed}, {TaskStatuses.Failed}, {TaskStatuses.Cancelled})
            RETURNING status AS "Value"
            """).ToListAsync(cancellationToken);
        return statuses.SingleOrDefault();
    }
}

public sealed class CountTerminalTaskActivity<T>(ITaskLedger ledger) : IStateMachineActivity<BatchState, T>
    where T : class
{
    public async Task Execute(BehaviorContext<BatchState, T> context, IBehavior<BatchState, T> next)
    {
        var (taskId, batchId, reported) = context.Message switch
        {
            TaskCompleted m => (m.TaskId, m.BatchId, TaskStatuses.Completed),
            TaskFailed m => (m.TaskId, m.BatchId, TaskStatuses.Failed),
            TaskCancelled m => (m.TaskId, m.BatchId, TaskStatuses.Cancelled),
            _ => throw new InvalidOperationException($"{typeof(T).Name} is not a terminal task event."),
        };

        var status = await ledger.TryCount(taskId, batchId, reported, context.CancellationToken);

        // Counted before (a duplicate or redelivery): the counters did not move, so the rest of the event's behaviour
        // (transition, progress, finish) has nothing to do and must not announce anything twice.
        if (status is null)
            return;

        var saga = context.Saga;
        switch (status)
        {
            case TaskStatuses.Completed: saga.Completed++; break;
            case TaskStatuses.Failed: saga.Failed++; break;
            default: saga.Cancelled++; break;
        }

        saga.UpdatedAt = DateTimeOffset.UtcNow;
        await next.Execute(context);
    }

    public Task Faulted<TException>(BehaviorExceptionContext<BatchState, T, TException> context, IBehavior<BatchState, T> next)
        where TException : Exception =>
        next.Faulted(context);

    public void Probe(ProbeContext context) => context.CreateScope("count-terminal-task");

    public void Accept(StateMachineVisitor visitor) => visitor.Visit(this);
}
