using Npgsql;
using Platform.Data;

namespace Platform.Dispatch;

/// <summary>
/// How the task that carries an ExecuteTask delivery's lease starts an attempt: one statement, used by the worker that
/// receives the delivery and by the refill that hands a slot's next task over to the worker holding it. Conditional: the
/// task must be running (holding its slot) and its batch not being cancelled.
/// </summary>
public static class LeaseClaim
{
    public static NpgsqlBatchCommand Command(Guid leaseId, string worker, DateTimeOffset now) => DbBatch.Statement("""
        UPDATE tasks t SET started_at = $3, attempts = t.attempts + 1, worker = $2
        FROM batches b
        WHERE t.lease_id = $1 AND t.status = 'running' AND b.batch_id = t.batch_id AND b.cancel_requested_at IS NULL
        RETURNING t.task_id, t.batch_id, t.slot, t.key, t.input::text, b.instructions, t.attempts, t.trace_parent, t.started_at
        """, leaseId, worker, now);

    /// <summary>The started task from the reader positioned on the claim's result; null when nothing was claimed.</summary>
    public static async Task<StartedTask?> Read(NpgsqlDataReader reader, CancellationToken cancellationToken)
    {
        if (!await reader.ReadAsync(cancellationToken))
            return null;
        return new StartedTask(reader.GetGuid(0), reader.GetGuid(1), reader.GetInt32(2), reader.GetString(3), reader.GetString(4),
            reader.GetString(5), reader.GetInt32(6), reader.IsDBNull(7) ? null : reader.GetString(7), reader.GetFieldValue<DateTimeOffset>(8));
    }
}

/// <summary>An attempt that has just started: the task, its slot, what the executor needs, and the attempt's number.</summary>
public sealed record StartedTask(Guid TaskId, Guid BatchId, int Slot, string Key, string Input, string Instructions, int Attempts,
    string? TraceParent, DateTimeOffset StartedAt);
