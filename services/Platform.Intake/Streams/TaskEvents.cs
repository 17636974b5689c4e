using System.Globalization;
using Npgsql;

namespace Platform.Intake.Streams;

/// <summary>
/// A position in a batch's terminal tasks: the transaction that ended a task (its xid) and the task's id. Written as the
/// events' <c>id:</c>, <c>{xid}-{taskId}</c>; clients treat it as opaque.
/// </summary>
public readonly record struct StreamCursor(ulong Xid, Guid TaskId)
{
    public static readonly StreamCursor Start = new(0, Guid.Empty);

    public override string ToString() => $"{Xid.ToString(CultureInfo.InvariantCulture)}-{TaskId:N}";

    public static bool TryParse(string? text, out StreamCursor cursor)
    {
        cursor = Start;
        var dash = text?.IndexOf('-', StringComparison.Ordinal) ?? -1;
        if (dash <= 0)
            return false;
        if (!ulong.TryParse(text!.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var xid)
            || !Guid.TryParseExact(text!.AsSpan(dash + 1), "N", out var taskId))
            return false;
        cursor = new StreamCursor(xid, taskId);
        return true;
    }
}

/// <summary>The data of a <c>task</c> event: a task in its terminal state.</summary>
public sealed record TaskEvent(Guid TaskId, Guid BatchId, string Key, string Status, int Attempts, int? Slot,
    DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? Error);

/// <summary>What one read found: the next terminal tasks after the cursor, and whether more may still appear.</summary>
public sealed record TaskEventPage(IReadOnlyList<(StreamCursor Cursor, TaskEvent Task)> Tasks, bool Open, bool Settling);

/// <summary>
/// Reads a batch's terminal tasks in the order of a gap-free cursor (docs/api.md, "Event streams"). A trigger stamps each
/// task's terminal transition with its transaction's id (<c>terminal_xid</c>); a read returns only tasks whose xid is
/// below the snapshot's xmin, where every transaction has ended, so no task can later commit behind a cursor a client
/// holds. Ids assigned in order but committed out of order (a sequence, a timestamp) would allow exactly that.
/// </summary>
public static class TaskEvents
{
    public static async Task<TaskEventPage> Read(NpgsqlDataSource data, Guid batchId, StreamCursor after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await data.OpenConnectionAsync(cancellationToken);

        // Asked first: its snapshot's xmin is at most the rows' read's, so "nothing settling" here means the rows' read
        // below sees every terminal task there is.
        bool open, settling;
        await using (var state = new NpgsqlCommand("""
            SELECT EXISTS (SELECT 1 FROM tasks WHERE batch_id = $1 AND status IN ('queued', 'running')),
                   -- The batch's latest end, one backward probe of the index (an EXISTS over the horizon could scan the batch).
                   COALESCE((SELECT terminal_xid FROM tasks WHERE batch_id = $1 AND terminal_xid IS NOT NULL ORDER BY terminal_xid DESC LIMIT 1)
                            >= pg_snapshot_xmin(pg_current_snapshot()), false)
            """, connection))
        {
            state.Parameters.Add(new NpgsqlParameter { Value = batchId });
            await using var reader = await state.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            open = reader.GetBoolean(0);
            settling = reader.GetBoolean(1);
        }

        await using var rows = new NpgsqlCommand("""
            SELECT task_id, terminal_xid::text, key, status, attempts, slot, started_at, finished_at, error
            FROM tasks
            WHERE batch_id = $1
              AND terminal_xid < (SELECT pg_snapshot_xmin(pg_current_snapshot()))
              AND (terminal_xid, task_id) > ($2::text::xid8, $3)
            ORDER BY terminal_xid, task_id
            LIMIT $4
            """, connection);
        rows.Parameters.Add(new NpgsqlParameter { Value = batchId });
        rows.Parameters.Add(new NpgsqlParameter { Value = after.Xid.ToString(CultureInfo.InvariantCulture) });
        rows.Parameters.Add(new NpgsqlParameter { Value = after.TaskId });
        rows.Parameters.Add(new NpgsqlParameter { Value = limit });
        var tasks = new List<(StreamCursor, TaskEvent)>();
        await using (var reader = await rows.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var taskId = reader.GetGuid(0);
                var cursor = new StreamCursor(ulong.Parse(reader.GetString(1), CultureInfo.InvariantCulture), taskId);
                tasks.Add((cursor, new TaskEvent(taskId, batchId, reader.GetString(2), reader.GetString(3), reader.GetInt32(4),
                    reader.IsDBNull(5) ? null : reader.GetInt32(5),
                    reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6),
                    reader.IsDBNull(7) ? null : reader.GetFieldValue<DateTimeOffset>(7),
                    reader.IsDBNull(8) ? null : reader.GetString(8))));
            }
        }

        return new TaskEventPage(tasks, open, settling);
    }
}
