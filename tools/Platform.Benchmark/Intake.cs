using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Platform.Testing;
using static Platform.Benchmark.Measure;

namespace Platform.Benchmark;

/// <summary>
/// How long a submission takes to be answered (issue 17: 1,000 tasks within 100 ms p99, 10,000 within 500 ms), timed at
/// the client from sending POST /v1/batches to reading its 202, and what it costs the intake and PostgreSQL in CPU.
/// Only an intake runs, on PostgreSQL and RabbitMQ: the answer depends on nothing else (the orchestrator hears of the
/// batch afterwards, through the outbox), and on two shared cores an orchestrator dispatching the backlog would measure
/// itself, not the intake. The user is enterprise (no monthly quota), so the backlog only grows; the tasks stay queued.
/// Each submission waits for the outbox to be empty first, so that it pays for its own notifications and no earlier ones.
/// </summary>
public static class Intake
{
    static readonly Dictionary<string, string> Settings = new()
    {
        // It measures a submission's cost, not the per-caller throttle.
        ["Platform__RateLimit__PermitLimit"] = "1000000",
    };

    public static async Task Run(int small, int large, int warmUp)
    {
        await using var cluster = await PlatformCluster.Start("bench-intake", orchestrators: 0, workers: 0, settings: Settings);
        using var user = await cluster.CreateUser("intake-user", "enterprise");

        // Warm-up: the tiered JIT recompiles a hot method only after 30 calls; the first submissions measure start-up.
        for (var i = 0; i < warmUp; i++)
            await Submit(cluster, user, Body(i % 2 == 0 ? 1_000 : 10_000, $"warm-up-{i}"), $"warm-up-{i}");
        Print($"warm-up: {warmUp} submissions (1,000 and 10,000 tasks, alternately)");

        foreach (var (size, count, target) in new[] { (1_000, small, 100.0), (10_000, large, 500.0) })
        {
            var bodies = Enumerable.Range(0, count).Select(i => Body(size, $"batch-{size}-{i}")).ToList();
            var latencies = new List<double>();
            var cpu = new Dictionary<string, double>();
            for (var i = 0; i < count; i++)
            {
                await OutboxEmpty(cluster);
                var before = Snapshot(cluster);
                latencies.Add(await Submit(cluster, user, bodies[i], $"{size}-{i}"));
                // The submission's cost includes relaying what it wrote to the outbox, which runs after its answer.
                await OutboxEmpty(cluster);
                var after = Snapshot(cluster);
                foreach (var key in new[] { "intake-1", "postgresql", "machine" })
                    cpu[key] = cpu.GetValueOrDefault(key) + after[key] - before[key];
            }

            latencies.Sort();
            Print($"{size,6:N0} tasks × {count}: p50 {Rank(latencies, 0.5):0} ms, p90 {Rank(latencies, 0.9):0} ms, p99 {Rank(latencies, 0.99):0} ms, " +
                  $"max {latencies[^1]:0} ms (target p99 ≤ {target:0} ms); body {bodies[0].Length / 1024.0:0} KiB");
            Print($"{size,6:N0} tasks: CPU per submission, ms (user + system, with its outbox relayed): " +
                  string.Join(", ", cpu.Select(c => $"{c.Key} {c.Value * 1000 / count:0}")));
        }

        var stored = await cluster.Scalar<long>("SELECT count(*) FROM tasks");
        Print($"stored: {stored:N0} task rows");
    }

    static async Task<double> Submit(PlatformCluster cluster, HttpClient user, byte[] body, string idempotencyKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/batches") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        var watch = Stopwatch.StartNew();
        using var response = await user.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
        var elapsed = watch.Elapsed.TotalMilliseconds;
        if (response.StatusCode != HttpStatusCode.Accepted)
            throw new InvalidOperationException($"submission answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}\n{cluster.Logs()}");
        return elapsed;
    }

    // Serialized before the clock starts: the figure is the intake's answer, not the client's serializer.
    static byte[] Body(int tasks, string name) => JsonSerializer.SerializeToUtf8Bytes(new
    {
        name,
        instructions = "Research {company}: founding year, HQ",
        tasks = Enumerable.Range(0, tasks).Select(i => new { key = $"task-{i:D5}", input = new { company = $"Company {i}", simulate = new { durationMs = 200 } } }),
    }, PlatformCluster.Json);

    static Task<long> OutboxEmpty(PlatformCluster cluster) =>
        Poll.Until(() => cluster.Scalar<long>("SELECT count(*) FROM outbox_messages"), rows => rows == 0, TimeSpan.FromSeconds(120),
            "the outbox to be relayed", TimeSpan.FromMilliseconds(20));

    static void Print(string line) => Console.WriteLine("[bench] intake: " + line);
}
