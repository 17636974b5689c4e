using MassTransit;
using Microsoft.EntityFrameworkCore;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Sagas;

namespace Platform.Orchestrator.StateMachines;

/// <summary>How many of a batch's tasks ended in each terminal status since the saga last counted it.</summary>
public sealed record EndedTasks(int Completed, int Failed, int Cancelled)
{
    public static readonly EndedTasks None = new(0, 0, 0);

    public int Total => Completed + Failed + Cancelled;
}

/// <summary>Tells the batch saga which of a batch's tasks ended since it last looked, and in which status.</summary>
public interface ITaskLedger
{
    /// <summary>
    /// Marks every terminal, not yet counted task of the batch counted and returns how many ended in each status;
    /// all zero when nothing ended since the last count (a duplicate or redelivered event, or tasks still running).
    /// The task rows, not the event, say which tasks ended and how.
    /// </summary>
    Task<EndedTasks> CountBatch(Guid batchId, CancellationToken cancellationToken);
}

/// <summary>
/// The ledger in the task rows. It runs on the saga repository's <see cref="PlatformDbContext"/> and transaction,
/// so "counted" and the saga's counters commit together or not at all. The partial index
/// <c>ix_tasks_uncounted_by_batch</c> holds only ended, uncounted tasks, so a count costs what ended since the last one,
/// not the batch's size.
/// </summary>
public sealed class TaskRowLedger(PlatformDbContext db) : ITaskLedger
{
    public async Task<EndedTasks> CountBatch(Guid batchId, CancellationToken cancellationToken)
    {
        var counts = await db.Database.SqlQuery<EndedTasks>($"""
            WITH counted AS (
                UPDATE tasks SET counted = true
                WHERE batch_id = {batchId} AND NOT counted
                  AND status IN ({TaskStatuses.Completed}, {TaskStatuses.Failed}, {TaskStatuses.Cancelled})
                RETURNING status)
            SELECT count(*) FILTER (WHERE status = {TaskStatuses.Completed})::int AS "Completed",
                   count(*) FILTER (WHERE status = {TaskStatuses.Failed})::int AS "Failed",
                   count(*) FILTER (WHERE status = {TaskStatuses.Cancelled})::int AS "Cancelled"
            FROM counted
            """).ToListAsync(cancellationToken);
        return counts.Single();
    }
}

/// <summary>
/// Counts whatever tasks of the event's batch ended since the last count (<see cref="ITaskLedger.CountBatch"/>),
/// whichever event it was: one per task, a coalesced notification, or a cancellation.
/// </summary>
public sealed class CountEndedTasksActivity<T>(ITaskLedger ledger) : IStateMachineActivity<BatchState, T>
    where T : class
{
    public async Task Execute(BehaviorContext<BatchState, T> context, IBehavior<BatchState, T> next)
    {
        var ended = await ledger.CountBatch(context.Saga.CorrelationId, context.CancellationToken);

        // Nothing new (a duplicate, a redelivery, or tasks an earlier event already counted): the counters did not move,
        // so the rest of the event's behaviour (transition, progress, finish) has nothing to do and must not announce
        // anything twice.
        if (ended.Total == 0)
            return;

        var saga = context.Saga;
        saga.Completed += ended.Completed;
        saga.Failed += ended.Failed;
        saga.Cancelled += ended.Cancelled;
        saga.UpdatedAt = DateTimeOffset.UtcNow;
        await next.Execute(context);
    }

    public Task Faulted<TException>(BehaviorExceptionContext<BatchState, T, TException> context, IBehavior<BatchState, T> next)
        where TException : Exception =>
        next.Faulted(context);

    public void Probe(ProbeContext context) => context.CreateScope("count-ended-tasks");

    public void Accept(StateMachineVisitor visitor) => visitor.Visit(this);
}
