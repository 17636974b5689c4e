using System.Collections.Concurrent;
using Platform.Data.Model;
using Platform.Orchestrator.StateMachines;

namespace Platform.Orchestrator.Tests.StateMachines;

/// <summary>
/// <see cref="TaskRowLedger"/> without the database: a table of task rows per batch, each terminal row counted once,
/// and the row's own status (not an event's) is what counts. <see cref="BatchSagaHarness.Deliver{T}"/> writes the row a
/// terminal task event reports unless the test wrote that task's row itself, as if the worker had written exactly what
/// it reported.
/// </summary>
public sealed class InMemoryTaskLedger : ITaskLedger
{
    readonly ConcurrentDictionary<(Guid TaskId, Guid BatchId), string> _rows = new();
    readonly ConcurrentDictionary<(Guid TaskId, Guid BatchId), bool> _counted = new();

    /// <summary>What the task row says, like a worker's <c>UPDATE tasks SET status = …</c>.</summary>
    public void SetStatus(Guid taskId, Guid batchId, string status) => _rows[(taskId, batchId)] = status;

    /// <summary>The row a task event reports, unless the row was written before (the row, not the event, is the truth).</summary>
    public void Reported(Guid taskId, Guid batchId, string status) => _rows.TryAdd((taskId, batchId), status);

    /// <summary>How many times <see cref="CountBatch"/> ran, whatever it found.</summary>
    public int Counts => Volatile.Read(ref _counts);

    int _counts;

    public Task<EndedTasks> CountBatch(Guid batchId, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _counts);
        int completed = 0, failed = 0, cancelled = 0;
        foreach (var ((taskId, rowBatchId), status) in _rows)
        {
            // Same guard as the SQL: only a terminal row that was not counted yet, and only once even when two counts
            // race (TryAdd is the "AND NOT counted").
            if (rowBatchId != batchId || !TaskStatuses.IsTerminal(status) || !_counted.TryAdd((taskId, rowBatchId), true))
                continue;
            switch (status)
            {
                case TaskStatuses.Completed: completed++; break;
                case TaskStatuses.Failed: failed++; break;
                default: cancelled++; break;
            }
        }

        return Task.FromResult(new EndedTasks(completed, failed, cancelled));
    }
}
