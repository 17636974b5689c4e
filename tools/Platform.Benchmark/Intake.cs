using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;
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
public static partial class Intake
{
    static readonly Dictionary<string, string> Settings = new()
    {
        // It measures a submission's cost, not the per-caller throttle.
        ["Platform__RateLimit__PermitLimit"] = "1000000",
        // The intake's own account of where each submission's time went (one Debug line per accepted batch).
        ["Logging__LogLevel__Platform.Intake.Submission.BatchSubmission"] = "Debug",
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
            var linesBefore = cluster.Intake.Output.Count;
            for (var i = 0; i < count; i++)
            {
                await OutboxEmpty(cluster);
                var before = Cpu(cluster);
                latencies.Add(await Submit(cluster, user, bodies[i], $"{size}-{i}"));
                // The submission's cost includes relaying what it wrote to the outbox, which runs after its answer.
                await OutboxEmpty(cluster);
                var after = Cpu(cluster);
                foreach (var key in after.Keys)
                    cpu[key] = cpu.GetValueOrDefault(key) + after[key] - before[key];
            }

            latencies.Sort();
            Print($"{size,6:N0} tasks × {count}: p50 {Rank(latencies, 0.5):0} ms, p90 {Rank(latencies, 0.9):0} ms, p99 {Rank(latencies, 0.99):0} ms, " +
                  $"max {latencies[^1]:0} ms (target p99 ≤ {target:0} ms); body {bodies[0].Length / 1024.0:0} KiB");
            Print($"{size,6:N0} tasks: CPU per submission, ms (user + system, with its outbox relayed): " +
                  string.Join(", ", cpu.Select(c => $"{c.Key} {c.Value * 1000 / count:0}")));
            var steps = cluster.Intake.Output.Skip(linesBefore).Select(l => Step().Match(l)).Where(m => m.Success && m.Groups[1].Value == size.ToString(CultureInfo.InvariantCulture))
                .Select(m => (Check: Number(m, 2), Write: Number(m, 3), Commit: Number(m, 4))).ToList();
            if (steps.Count > 0)
            {
                Print($"{size,6:N0} tasks: inside the intake ({steps.Count} submissions), ms: checked (validation, idempotency) {Summary(steps.Select(s => s.Check))}; " +
                      $"written (quota, rows) {Summary(steps.Select(s => s.Write))}; committed and marked ready {Summary(steps.Select(s => s.Commit))}");
            }
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

    // The intake, the PostgreSQL backends serving this database (their process title names it; the other helpers'
    // databases and the server's shared WAL writer and checkpointer are left out), and the whole machine.
    static Dictionary<string, double> Cpu(PlatformCluster cluster)
    {
        var database = new NpgsqlConnectionStringBuilder(cluster.Database).Database!;
        var backends = Directory.EnumerateDirectories("/proc").Select(Path.GetFileName).Where(d => d!.All(char.IsAsciiDigit))
            .Select(d => (Pid: int.Parse(d!, CultureInfo.InvariantCulture), Title: ReadOrEmpty($"/proc/{d}/cmdline")))
            .Where(p => p.Title.StartsWith("postgres: ", StringComparison.Ordinal) && p.Title.Contains($" {database} ", StringComparison.Ordinal));
        var all = Snapshot(cluster);
        return new Dictionary<string, double>
        {
            ["intake"] = all[cluster.Intake.Name],
            ["postgresql (this database's backends)"] = backends.Sum(p => CpuSecondsOrZero(p.Pid)),
            ["machine"] = all["machine"],
        };
    }

    static double Number(Match match, int group) => double.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"accepted, (\d+) tasks: checked in ([\d.]+) ms.*written in ([\d.]+) ms.*marked ready in ([\d.]+) ms")]
    private static partial Regex Step();

    static void Print(string line) => Console.WriteLine("[bench] intake: " + line);
}
