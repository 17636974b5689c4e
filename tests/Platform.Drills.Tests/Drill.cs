using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Drills.Tests;

/// <summary>
/// A task row as the drills read it: who ran its last attempt, and when. <see cref="HandedOver"/>: it ran under the
/// lease of an earlier task's ExecuteTask (a worker refilled that slot with it), not under a delivery of its own.
/// </summary>
public sealed record TaskRun(Guid TaskId, string Key, string Status, int Attempts, string? Worker,
    DateTimeOffset? DispatchedAt, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? Error, bool HasResult, bool HandedOver);

/// <summary>What the drills share: task inputs, reading task rows, RabbitMQ's management API, printing.</summary>
public static class Drill
{
    /// <summary>Simulated research inputs whose attempts take <paramref name="durationMs"/> each.</summary>
    public static IEnumerable<object> Inputs(int count, Func<int, int> durationMs) =>
        Enumerable.Range(0, count).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs = durationMs(i) } });

    /// <summary>Durations spread evenly between <paramref name="min"/> and <paramref name="max"/> ms, deterministic per task.</summary>
    public static Func<int, int> Between(int min, int max) => i => min + (i * 7919 % (max - min + 1));

    /// <summary>How a worker process appears in <c>tasks.worker</c> (TaskRunner.WorkerName: host:pid).</summary>
    public static string WorkerName(ServiceProcess worker) => $"{Environment.MachineName}:{worker.Id}";

    public static Task<List<TaskRun>> Tasks(PlatformCluster cluster) =>
        cluster.Query($"""
            SELECT task_id, key, status, attempts, worker, dispatched_at, started_at, finished_at, error, result IS NOT NULL, {HandedOverSql}
            FROM tasks ORDER BY seq
            """,
            r => new TaskRun(r.GetGuid(0), r.GetString(1), r.GetString(2), r.GetInt32(3), r.IsDBNull(4) ? null : r.GetString(4),
                Time(r, 5), Time(r, 6), Time(r, 7), r.IsDBNull(8) ? null : r.GetString(8), r.GetBoolean(9), r.GetBoolean(10)));

    /// <summary>A condition on a <c>tasks</c> row: an earlier task carried its lease first (leases are unique per ExecuteTask).</summary>
    public const string HandedOverSql =
        "EXISTS (SELECT 1 FROM tasks earlier WHERE earlier.lease_id = tasks.lease_id AND earlier.dispatched_at < tasks.dispatched_at)";

    static DateTimeOffset? Time(Npgsql.NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetFieldValue<DateTimeOffset>(i);

    /// <summary>Waits until some row satisfies <paramref name="condition"/> (a SQL predicate on tasks); returns the matching count.</summary>
    public static async Task<long> WaitForTasks(PlatformCluster cluster, string condition, long atLeast, TimeSpan timeout, string what, params object[] parameters)
    {
        try
        {
            return await Poll.Until(() => cluster.Scalar<long>($"SELECT count(*) FROM tasks WHERE {condition}", parameters),
                n => n >= atLeast, timeout, what, TimeSpan.FromMilliseconds(50));
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + "\n" + await Diagnose(cluster) + "\n" + cluster.Logs(), ex);
        }
    }

    /// <summary>Waits until every batch's saga has reached a final state.</summary>
    public static async Task WaitForBatchesToFinish(PlatformCluster cluster, TimeSpan timeout)
    {
        try
        {
            await Poll.Until(() => cluster.Scalar<long>("SELECT count(*) FROM batches b LEFT JOIN batch_states s ON s.correlation_id = b.batch_id WHERE s.finished_at IS NULL"),
                n => n == 0, timeout, "every batch to finish", TimeSpan.FromMilliseconds(100));
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + "\n" + await Diagnose(cluster) + "\n" + cluster.Logs(), ex);
        }
    }

    /// <summary>Where the rows stand, for a drill that timed out: task statuses and times, the outbox, long transactions.</summary>
    public static async Task<string> Diagnose(PlatformCluster cluster)
    {
        var text = new StringBuilder("diagnosis:\n");
        foreach (var line in await cluster.Query("""
            SELECT status, count(*), max(dispatched_at), max(started_at), max(finished_at), sum(attempts) FROM tasks GROUP BY status
            """, r => $"  tasks {r.GetString(0)}: {r.GetInt64(1)}, last dispatched {Time(r, 2):HH:mm:ss.fff}, last started {Time(r, 3):HH:mm:ss.fff}, last finished {Time(r, 4):HH:mm:ss.fff}, attempts {r.GetInt64(5)}"))
            text.AppendLine(line);
        foreach (var line in await cluster.Query("SELECT message_type, count(*), min(created_at) FROM outbox_messages GROUP BY message_type",
            r => $"  outbox {r.GetString(0)}: {r.GetInt64(1)} since {Time(r, 2):HH:mm:ss.fff}"))
            text.AppendLine(line);
        foreach (var line in await cluster.Query("""
            SELECT application_name, state, xact_start, left(query, 120) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start < now() - interval '5 seconds'
            """, r => $"  long transaction: {r.GetValue(0)} {r.GetValue(1)} since {Time(r, 2):HH:mm:ss.fff}: {r.GetValue(3)}"))
            text.AppendLine(line);
        return text.ToString();
    }

    public static string VirtualHost(PlatformCluster cluster) => Uri.EscapeDataString(new Uri(cluster.RabbitMq).AbsolutePath.Trim('/'));

    /// <summary>Messages ready or unacknowledged in a queue of the cluster's vhost (the management API's figure, refreshed every few seconds).</summary>
    public static async Task<int> QueueDepth(HttpClient management, PlatformCluster cluster, string queue)
    {
        var info = await management.GetFromJsonAsync<JsonObject>($"/api/queues/{VirtualHost(cluster)}/{Uri.EscapeDataString(queue)}");
        return info!["messages"]?.GetValue<int>() ?? 0;
    }

    /// <summary>Takes (and acknowledges) up to <paramref name="count"/> messages from a queue: what is really there, not a statistic.</summary>
    public static async Task<List<JsonObject>> TakeMessages(HttpClient management, PlatformCluster cluster, string queue, int count = 100)
    {
        using var response = await management.PostAsJsonAsync($"/api/queues/{VirtualHost(cluster)}/{Uri.EscapeDataString(queue)}/get",
            new { count, ackmode = "ack_requeue_false", encoding = "auto" });
        await PlatformCluster.EnsureSuccess(response);
        return (await response.Content.ReadFromJsonAsync<List<JsonObject>>())!;
    }

    /// <summary>A durable queue that receives a copy of every published <paramref name="messageType"/> (Platform.Contracts name).</summary>
    public static async Task CaptureQueue(HttpClient management, PlatformCluster cluster, string messageType, string queue)
    {
        var vhost = VirtualHost(cluster);
        var exchange = Uri.EscapeDataString($"Platform.Contracts:{messageType}");
        // The same declaration MassTransit makes for a published message type, so whoever comes first wins nothing.
        await Put(management, $"/api/exchanges/{vhost}/{exchange}", """{"type":"fanout","durable":true,"auto_delete":false}""");
        await Put(management, $"/api/queues/{vhost}/{Uri.EscapeDataString(queue)}", """{"durable":true}""");
        using var bind = await management.PostAsync($"/api/bindings/{vhost}/e/{exchange}/q/{Uri.EscapeDataString(queue)}",
            new StringContent("{}", Encoding.UTF8, "application/json"));
        await PlatformCluster.EnsureSuccess(bind);
    }

    static async Task Put(HttpClient management, string path, string json)
    {
        using var response = await management.PutAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        await PlatformCluster.EnsureSuccess(response);
    }

    /// <summary>Prints a line now and keeps it, so that a fixture's setup can tell its story again in each test's output.</summary>
    public static void Tell(List<string> story, FormattableString line)
    {
        story.Add(line.ToString(CultureInfo.InvariantCulture));
        Print(line);
    }

    public static void Retell(List<string> story)
    {
        foreach (var line in story)
            TestContext.Out.WriteLine(line);
    }

    public static void Print(FormattableString line) => TestContext.Out.WriteLine(line.ToString(CultureInfo.InvariantCulture));

    public static string Seconds(TimeSpan span) => span.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture) + " s";
}
