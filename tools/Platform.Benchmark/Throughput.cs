using System.Diagnostics;
using System.Text.Json.Nodes;
using Npgsql;
using Platform.Testing;
using static Platform.Benchmark.Measure;

namespace Platform.Benchmark;

/// <summary>
/// Zero-latency tasks (issue 17): what the platform itself costs per task, with nothing to wait for. Two shapes: ten
/// enterprise users of 300 tasks each at once (the fleet is shared, so fair share decides every freed unit), and one
/// enterprise user of 1,000 (every freed unit stays with its user: the hand-over). For each it prints tasks/s, CPU per
/// task of every process, the messages per task by type (RabbitMQ's exchange counters) and PostgreSQL's transactions
/// and statements per task (pg_stat_database; pg_stat_statements where it is loaded).
/// </summary>
public static class Throughput
{
    public static async Task Run(int users, int perUser, int single, int warmUp)
    {
        // A PostgreSQL and RabbitMQ of its own, with pg_stat_statements loaded: the statements per task are counted, and no
        // other database on the shared server adds to PostgreSQL's CPU.
        var servers = LocalServers.Dedicated("bench", 58432, 58672, new Dictionary<string, string> { ["PLATFORM_PG_STATEMENT_STATS"] = "1" });
        try
        {
            await Run(servers, users, perUser, single, warmUp);
        }
        finally
        {
            await servers.Stop();
        }
    }

    static async Task Run(LocalServers servers, int users, int perUser, int single, int warmUp)
    {
        await using var cluster = await PlatformCluster.Start("bench-throughput", orchestrators: 1, workers: 2, servers: servers);
        var warm = await cluster.CreateUser("warm-up", "enterprise");
        var watch = Stopwatch.StartNew();
        await WaitDone(cluster, warm, await PlatformCluster.SubmitBatch(warm, "warm-up", Inputs(warmUp, 0)));
        Print($"warm-up: {warmUp} zero-latency tasks in {watch.Elapsed.TotalSeconds:0.0} s");

        var many = new List<HttpClient>();
        for (var i = 0; i < users; i++)
            many.Add(await cluster.CreateUser($"enterprise-{i + 1:D2}", "enterprise"));
        var one = await cluster.CreateUser("enterprise-solo", "enterprise");

        await Shape(servers, cluster, $"{users} enterprise users × {perUser} tasks", many, perUser);
        await Shape(servers, cluster, $"1 enterprise user × {single} tasks", [one], single);
    }

    static async Task Shape(LocalServers servers, PlatformCluster cluster, string label, List<HttpClient> users, int perUser)
    {
        var total = users.Count * perUser;
        // RabbitMQ's management counters are refreshed every few seconds: read them after a quiet spell on both sides.
        await Task.Delay(TimeSpan.FromSeconds(6));
        var messagesBefore = await Messages(servers, cluster);
        var sqlBefore = await Sql(cluster);
        var cpuBefore = Snapshot(cluster);

        var batches = await Task.WhenAll(users.Select((u, i) => PlatformCluster.SubmitBatch(u, $"throughput-{i}", Inputs(perUser, 0))));
        for (var i = 0; i < users.Count; i++)
            await WaitDone(cluster, users[i], batches[i]);

        var cpuAfter = Snapshot(cluster);
        var sqlAfter = await Sql(cluster);
        await Task.Delay(TimeSpan.FromSeconds(6));
        var messagesAfter = await Messages(servers, cluster);

        var window = await cluster.Query("""
            SELECT min(dispatched_at), max(finished_at), count(*) FROM tasks WHERE batch_id = ANY($1)
            """, r => (From: r.GetFieldValue<DateTimeOffset>(0), To: r.GetFieldValue<DateTimeOffset>(1), Count: r.GetInt64(2)), batches.ToArray());
        var (from, to, count) = window.Single();
        var seconds = (to - from).TotalSeconds;
        Print($"{label}: {count} tasks in {seconds:0.00} s (first dispatch → last finish) = {count / seconds:0} tasks/s (target ≥ 400)");

        var cpu = cpuAfter.Where(p => p.Key != "stolen").Select(p => $"{p.Key} {(p.Value - cpuBefore[p.Key]) * 1000 / total:0.00}");
        Print($"{label}: CPU per task, ms (user + system): {string.Join(", ", cpu)} (target: machine ≤ 5); stolen {(cpuAfter["stolen"] - cpuBefore["stolen"]) * 1000 / total:0.00}");

        var byType = messagesAfter.Select(m => (Type: m.Key, Count: m.Value - messagesBefore.GetValueOrDefault(m.Key)))
            .Where(m => m.Count > 0).OrderByDescending(m => m.Count).ToList();
        Print($"{label}: messages per task {byType.Sum(m => m.Count) / (double)total:0.00}: " +
              string.Join(", ", byType.Select(m => $"{m.Type} {m.Count / (double)total:0.00}")));

        var statements = sqlAfter.Statements is { } after && sqlBefore.Statements is { } before
            ? $"{(after - before) / (double)total:0.0} statements"
            : "statements n/a (pg_stat_statements is not loaded: restart PostgreSQL with infra/local.sh up)";
        Print($"{label}: PostgreSQL per task: {(sqlAfter.Transactions - sqlBefore.Transactions) / (double)total:0.00} transactions, {statements}");
    }

    /// <summary>Messages published into each of the vhost's exchanges so far, by exchange (MassTransit names them by message type).</summary>
    static async Task<Dictionary<string, long>> Messages(LocalServers servers, PlatformCluster cluster)
    {
        using var http = await servers.ManagementClient();
        var vhost = Uri.EscapeDataString(new Uri(cluster.RabbitMq).AbsolutePath.TrimStart('/'));
        var exchanges = JsonNode.Parse(await http.GetStringAsync($"/api/exchanges/{vhost}?columns=name,message_stats"))!.AsArray();
        return exchanges
            .Where(e => e!["name"]!.GetValue<string>() is { Length: > 0 } name && !name.StartsWith("amq.", StringComparison.Ordinal))
            .ToDictionary(e => Short(e!["name"]!.GetValue<string>()),
                e => e!["message_stats"]?["publish_in"]?.GetValue<long>() ?? 0);
    }

    /// <summary>Platform.Contracts:TaskCompleted → TaskCompleted; a queue's own exchange keeps its name.</summary>
    static string Short(string exchange) => exchange[(exchange.LastIndexOf(':') + 1)..];

    /// <summary>The bench database's committed and rolled-back transactions, and its statements where pg_stat_statements counts them.</summary>
    static async Task<(long Transactions, long? Statements)> Sql(PlatformCluster cluster)
    {
        var database = new NpgsqlConnectionStringBuilder(cluster.Database).Database;
        await using var connection = new NpgsqlConnection(cluster.Database);
        await connection.OpenAsync();
        long transactions;
        await using (var stat = new NpgsqlCommand("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", connection))
        {
            stat.Parameters.AddWithValue(database!);
            transactions = (long)(await stat.ExecuteScalarAsync())!;
        }

        // infra/local.sh loads pg_stat_statements and creates it in template1, so every database made since has the view.
        await using (var present = new NpgsqlCommand("SELECT to_regclass('pg_stat_statements') IS NOT NULL", connection))
            if (!(bool)(await present.ExecuteScalarAsync())!)
                return (transactions, null);
        try
        {
            await using var calls = new NpgsqlCommand(
                "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1", connection);
            calls.Parameters.AddWithValue(database!);
            return (transactions, (long)(await calls.ExecuteScalarAsync())!);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.ObjectNotInPrerequisiteState)
        {
            return (transactions, null); // created, but the library is not loaded (PostgreSQL not restarted since)
        }
    }

    static void Print(string line) => Console.WriteLine("[bench] " + line);

}
