using System.Collections.Concurrent;
using Platform.Data.Model;
using Platform.Orchestrator.StateMachines;

namespace Platform.Orchestrator.Tests.StateMachines;

/// <summary>
/// <see cref="TaskRowLedger"/> without the database: each task's terminal state counts once, and the task's own status
/// (not the reported one) is what counts. Tests that do not set a status get the reported one, as if the worker had
/// written exactly what it reported.
/// </summary>
public sealed class InMemoryTaskLedger : ITaskLedger
{
    readonly ConcurrentDictionary<(Guid TaskId, Guid BatchId), string> _rows = new();
    readonly ConcurrentDictionary<(Guid TaskId, Guid BatchId), bool> _counted = new();

    /// <summary>What the task row says, like a worker's <c>UPDATE tasks SET status = …</c>.</summary>
    public void SetStatus(Guid taskId, Guid batchId, string status) => _rows[(taskId, batchId)] = status;

    public Task<string?> TryCount(Guid taskId, Guid batchId, string reportedStatus, CancellationToken cancellationToken)
    {
        var key = (taskId, batchId);
        var status = _rows.GetValueOrDefault(key, reportedStatus);

        // Same guard as the SQL: only a terminal row that was not counted yet, and only once even when two
        // deliveries race (TryAdd is the "AND NOT counted").
        if (!TaskStatuses.IsTerminal(status) || !_counted.TryAdd(key, true))
            return Task.FromResult<string?>(null);
        return Task.FromResult<string?>(status);
    }
}
