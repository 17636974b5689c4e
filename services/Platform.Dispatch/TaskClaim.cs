using Npgsql;
using Platform.Data;

namespace Platform.Dispatch;

/// <summary>
/// The start of an attempt: the running task that carries a lease (whoever's task it is) gets its start time, its attempt number and its worker,
/// unless its batch is being cancelled. One statement, sent by a delivery's claim (the worker's TaskRunner) and by a
/// hand-over, where <see cref="UserWorkQueue"/> sends it with the transition that gave the task the lease, so the task
/// the worker runs next costs its completion no extra round trip.
/// </summary>
public static class TaskClaim
{
    /// <param name="leaseId">The lease the task carries.</param>
    /// <param name="now">The attempt's start.</param>
    /// <param name="worker">Who runs it (recorded on the task).</param>
    /// <param name="takeOver">
    /// May start a task the lease already started (a redelivery taking over from a worker that let go of it); otherwise
    /// only one not started yet, so that a duplicate delivery finds nothing to claim.
    /// </param>
    public static NpgsqlBatchCommand Statement(Guid leaseId, DateTimeOffset now, string worker, bool takeOver) => Statements.Statement("""
        UPDATE tasks t SET started_at = $2, attempts = t.attempts + 1, worker = $3
        FROM batches b, users u
        WHERE t.lease_id = $1 AND t.status = 'running' AND (t.started_at IS NULL OR $4)
          AND b.batch_id = t.batch_id AND b.cancel_requested_at IS NULL AND u.user_id = t.user_id
        RETURNING t.task_id, t.batch_id, t.slot, t.key, t.input::text, b.instructions, t.attempts, t.trace_parent, t.started_at, t.user_id, u.tier
        """, leaseId, now, worker, takeOver);

    /// <summary>Reads the statement's result, where the reader stands: the task started, or null when there was none to start.</summary>
    public static async Task<ClaimedTask?> Read(NpgsqlDataReader reader, CancellationToken cancellationToken)
    {
        if (!await reader.ReadAsync(cancellationToken))
            return null;
        return new ClaimedTask(reader.GetGuid(0), reader.GetGuid(1), reader.GetInt32(2), reader.GetString(3), reader.GetString(4),
            reader.GetString(5), reader.GetInt32(6), reader.IsDBNull(7) ? null : reader.GetString(7), reader.GetFieldValue<DateTimeOffset>(8),
            reader.GetString(9), reader.GetString(10));
    }
}

/// <summary>
/// A task whose attempt just started: what the executor needs, the trace its submission started, and whose it is (a
/// lease runs whichever user's task its unit of the fleet was given to).
/// </summary>
public sealed record ClaimedTask(Guid TaskId, Guid BatchId, int Slot, string Key, string Input, string Instructions, int Attempts,
    string? TraceParent, DateTimeOffset StartedAt, string UserId, string Tier);
