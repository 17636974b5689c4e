using Npgsql;

namespace Platform.Intake.Tests.Endpoints;

/// <summary>
/// The rows a dispatcher and the workers would have written, set straight in a host's database: the intake runs alone
/// in these tests, so nothing else moves a task or registers a worker.
/// </summary>
public static class FleetRows
{
    /// <summary>A live worker of <paramref name="capacity"/> (live as long as the host's <c>Platform:Fleet:WorkerTimeout</c>).</summary>
    public static Task AddWorker(string database, string workerId, int capacity) =>
        Execute(database, """
            INSERT INTO workers (worker_id, capacity, started_at, heartbeat_at, stopping) VALUES (@worker, @capacity, now(), now(), false)
            """, ("worker", workerId), ("capacity", capacity));

    /// <summary>The batch's first <paramref name="count"/> tasks in flight on <paramref name="workerId"/>, one slot each, as dispatch leaves them.</summary>
    public static Task Run(string database, Guid batchId, int count, string workerId = "waiting-worker:1") =>
        Execute(database, """
            UPDATE tasks SET status = 'running', slot = seq, attempts = attempts + 1, worker = @worker, lease_id = gen_random_uuid(),
                             dispatched_at = now(), started_at = now()
            WHERE batch_id = @batch AND seq < @count
            """, ("batch", batchId), ("count", count), ("worker", workerId));

    /// <summary>The task's last attempt failed transiently: queued again, not before <paramref name="notBefore"/>.</summary>
    public static Task Retry(string database, Guid batchId, string key, int attempts, string error, DateTimeOffset notBefore) =>
        Execute(database, """
            UPDATE tasks SET status = 'queued', slot = NULL, attempts = @attempts, error = @error, not_before = @notBefore, started_at = now()
            WHERE batch_id = @batch AND key = @key
            """, ("batch", batchId), ("key", key), ("attempts", attempts), ("error", error), ("notBefore", notBefore));

    public static Task Complete(string database, Guid batchId, string key) =>
        Execute(database, """
            UPDATE tasks SET status = 'completed', slot = NULL, attempts = 1, started_at = now(), finished_at = now(), result = '{"answer":"done"}'
            WHERE batch_id = @batch AND key = @key
            """, ("batch", batchId), ("key", key));

    public static async Task Execute(string database, string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters)
            command.Parameters.AddWithValue(name, value);
        Assert.That(await command.ExecuteNonQueryAsync(), Is.GreaterThan(0), $"the set-up wrote no row: {sql}");
    }
}
