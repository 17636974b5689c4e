using Npgsql;

namespace Platform.Data;

/// <summary>
/// The fleet's totals as a dispatch decision reads them, in one statement of its first round trip: the capacity of the
/// live workers and the tasks in flight, by the same rule as <see cref="Fleet.Read"/> (live: not stopping, heartbeat
/// younger than <see cref="FleetOptions.WorkerTimeout"/> on the database's clock; in flight: <c>status = 'running'</c>).
/// </summary>
public static class FleetCapacity
{
    public static NpgsqlBatchCommand Statement(TimeSpan workerTimeout) => Statements.Statement("""
        SELECT (SELECT coalesce(sum(capacity), 0)::int FROM workers WHERE NOT stopping AND heartbeat_at > now() - $1),
               (SELECT count(*)::int FROM tasks WHERE status = 'running')
        """, workerTimeout);
}
