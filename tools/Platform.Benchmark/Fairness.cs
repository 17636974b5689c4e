using System.Globalization;
using Platform.Testing;
using static Platform.Benchmark.Measure;

namespace Platform.Benchmark;

/// <summary>
/// How the shared worker fleet is split (DESIGN.md invariants 3 and 8), on a fleet of 2 workers × 8, from the task rows'
/// timestamps (docs/fair-share.md has the figures before and after the fair-share dispatcher).
///   a. isolation under saturation: 20 free users submit one task each, one after another, while an enterprise user
///      (50 slots, about 3× the fleet) holds a backlog of tasks of 0.5–1.5 s: first-task start (started_at − the
///      batch's created_at) p50 / p99 / max
///   b. weighted shares: a starter, a pro and an enterprise user, all backlogged: each one's time-averaged running ÷ the
///      fleet against its weighted fair share (water-filling, capped by its slots), and the worst relative error
///   c. batches do not buy share: two users of one tier, one with 1 batch and one with 20: Jain's index over their
///      time-averaged running (1 = equal)
///   d. the provider's budget: the stand-in holding the platform's key to 120 requests and 20,000 tokens a minute, a
///      starter and a pro user backlogged on it: tokens used a minute against the limit, requests a minute, the share of
///      calls answered 429, and the starter's share of the tokens against its weight's (3 : 10)
/// </summary>
public static class Fairness
{
    const int Capacity = 8;
    const int Workers = 2;
    const int Fleet = Capacity * Workers;

    static readonly Dictionary<string, string> Settings = new()
    {
        ["Platform__Worker__Capacity"] = Capacity.ToString(CultureInfo.InvariantCulture),
        // The benchmark creates users by the dozen: it measures dispatch, not the intake's throttle.
        ["Platform__RateLimit__PermitLimit"] = "1000000",
    };

    public static async Task Run(int backlog, int probes, TimeSpan window)
    {
        await Isolation(backlog, probes);
        await Shares(window);
        await BatchesDoNotBuyShare(window);
        await ProviderBudget(window < TimeSpan.FromMinutes(1) ? TimeSpan.FromMinutes(1) : window); // a minute at least: the budget is a minute's
    }

    static async Task Isolation(int backlog, int probes)
    {
        await using var cluster = await PlatformCluster.Start("bench-fairness-isolation", orchestrators: 1, workers: Workers, settings: Settings);
        using var admin = cluster.Client();
        var free = new List<HttpClient>();
        for (var i = 0; i < probes; i++)
            free.Add(await cluster.CreateUser($"free-{i:D2}", "free"));

        // One enterprise user's 50 slots on a fleet of 16: about 3× oversubscribed. Tasks of 0.5–1.5 s, as real ones vary.
        using (var user = await cluster.CreateUser("enterprise-1", "enterprise"))
            await PlatformCluster.SubmitBatch(user, "backlog", AboutOneSecond(backlog, seed: 1));

        await Saturated(cluster);
        await Poll.Until(() => cluster.Scalar<long>("SELECT count(*) FROM outbox_messages"), rows => rows < 100, TimeSpan.FromSeconds(60),
            "the backlog's notifications to be relayed", TimeSpan.FromMilliseconds(100));
        // Two unmeasured first: the first unit that changes hands runs that path's code for the first time in each process.
        for (var i = 0; i < 2; i++)
        {
            using var warmUp = await cluster.CreateUser($"warm-up-{i}", "free");
            await PlatformCluster.SubmitBatch(warmUp, "one task", Inputs(1, 100));
            await Task.Delay(TimeSpan.FromMilliseconds(250));
        }

        var backlogAtStart = await cluster.Scalar<long>("SELECT count(*) FROM tasks WHERE user_id LIKE 'enterprise-%' AND status IN ('queued', 'running')");
        foreach (var user in free)
        {
            await PlatformCluster.SubmitBatch(user, "one task", Inputs(1, 100));
            await Task.Delay(TimeSpan.FromMilliseconds(250));
        }

        var latencies = await Poll.Until(
            () => cluster.Query("""
                SELECT extract(epoch FROM t.started_at - b.created_at) * 1000
                FROM tasks t JOIN batches b USING (batch_id)
                WHERE t.user_id LIKE 'free-%' AND t.started_at IS NOT NULL
                """, r => r.GetDouble(0)),
            rows => rows.Count == probes, TimeSpan.FromSeconds(2 * backlog * 2.0 / Fleet + 60), "every free user's first task to start",
            TimeSpan.FromMilliseconds(250));
        latencies.Sort();
        var backlogLeft = await cluster.Scalar<long>("SELECT count(*) FROM tasks WHERE user_id LIKE 'enterprise-%' AND status IN ('queued', 'running')");
        Print($"a. isolation: {probes} free users' first task, submit → start, while an enterprise user (50 slots: {50.0 / Fleet:0.0}× the fleet of {Fleet}) " +
              $"had {backlogAtStart} tasks of 0.5–1.5 s unfinished: p50 {Rank(latencies, 0.5):0} ms, p99 {Rank(latencies, 0.99):0} ms, max {latencies[^1]:0} ms " +
              $"({backlogLeft} still unfinished when the last started; target p99 ≤ 500 ms)");
        foreach (var user in free)
            user.Dispose();
    }

    static async Task Shares(TimeSpan window)
    {
        await using var cluster = await PlatformCluster.Start("bench-fairness-shares", orchestrators: 1, workers: Workers, settings: Settings);
        // Backlogs that outlast the window at each tier's full slots (3, 10 and 50 tasks of 1 s at once), within the quotas.
        var users = new (string UserId, string Tier, int Tasks)[] { ("starter", "starter", 400), ("pro", "pro", 1200), ("enterprise", "enterprise", 3000) };
        foreach (var (userId, tier, tasks) in users)
        {
            using var user = await cluster.CreateUser(userId, tier);
            await PlatformCluster.SubmitBatch(user, "backlog", Inputs(tasks, 1000));
        }

        var held = await Measure(cluster, window, users.Select(u => u.UserId).ToList());
        // The fleet view's fair share: weighted water-filling over the users with work, capped by their slots.
        var fleet = await PlatformCluster.GetJson(cluster.Client(), "/v1/admin/fleet");
        var byUser = fleet["shares"]!.AsArray().ToDictionary(u => u!["userId"]!.GetValue<string>(), u => u!);
        var capacity = fleet["capacity"]!.GetValue<int>();

        var worst = 0.0;
        foreach (var (userId, _, _) in users)
        {
            var weight = byUser[userId]["weight"]!.GetValue<double>();
            var slots = byUser[userId]["slots"]!.GetValue<int>();
            var share = held[userId] / capacity;
            var fairShare = byUser[userId]["fairShare"]!.GetValue<double>() / capacity;
            var error = (share - fairShare) / fairShare;
            worst = Math.Max(worst, Math.Abs(error));
            Print($"b. weighted shares: {userId,-10} weight {weight,3:0} slots {slots,2}: held {held[userId],5:0.00} of {capacity} on average " +
                  $"= share {share:0.000}, fair share {fairShare:0.000}, error {error * 100:+0;-0;0}%");
        }

        Print($"b. weighted shares: worst error {worst * 100:0}% over {window.TotalSeconds:0} s (target ≤ 10%)");
    }

    static async Task BatchesDoNotBuyShare(TimeSpan window)
    {
        await using var cluster = await PlatformCluster.Start("bench-fairness-batches", orchestrators: 1, workers: Workers, settings: Settings);
        // One tier whose slots (50) exceed the fleet, so that the fleet, not the slots, is what the two split.
        using (var one = await cluster.CreateUser("one-batch", "enterprise"))
            await PlatformCluster.SubmitBatch(one, "backlog", Inputs(1000, 1000));
        using (var many = await cluster.CreateUser("twenty-batches", "enterprise"))
        {
            for (var b = 0; b < 20; b++)
                await PlatformCluster.SubmitBatch(many, $"backlog {b}", Inputs(50, 1000));
        }

        var held = await Measure(cluster, window, ["one-batch", "twenty-batches"]);
        var x = held.Values.ToList();
        var jain = x.Sum() * x.Sum() / (x.Count * x.Sum(v => v * v));
        Print($"c. batches do not buy share: one-batch held {held["one-batch"]:0.00}, twenty-batches {held["twenty-batches"]:0.00} of {Fleet} on average " +
              $"over {window.TotalSeconds:0} s: Jain's index {jain:0.000} (1 = equal; target shares within ±10%)");
    }

    static async Task ProviderBudget(TimeSpan window)
    {
        const int rpm = 120, tpm = 20_000;
        const string platformKey = "sk-platform-bench";
        await using var standIn = await StandInProviderProcess.Start();
        await standIn.SetLimits(rpm, tpm, platformKey);
        var settings = new Dictionary<string, string>(Settings)
        {
            ["Platform__Provider__BaseUrl"] = standIn.BaseUrl.ToString(),
            ["Platform__Provider__ApiKey"] = platformKey,
            ["Platform__Provider__Model"] = "gpt-4o-mini",
            ["Platform__Provider__Rpm"] = rpm.ToString(CultureInfo.InvariantCulture),
            ["Platform__Provider__Tpm"] = tpm.ToString(CultureInfo.InvariantCulture),
        };
        await using var cluster = await PlatformCluster.Start("bench-fairness-budget", orchestrators: 1, workers: Workers, settings: settings);
        var start = DateTimeOffset.UtcNow;
        foreach (var (userId, tier, tasks) in new[] { ("budget-starter", "starter", 400), ("budget-pro", "pro", 1000) })
        {
            using var user = await cluster.CreateUser(userId, tier);
            await PlatformCluster.SubmitBatch(user, "backlog", Enumerable.Range(0, tasks).Select(i => (object)new { company = $"Company {i}" }));
        }

        // Both buckets start full, so the first half minute spends a minute's worth at once; the window comes after it.
        var from = start + TimeSpan.FromSeconds(30);
        await Task.Delay(from + window - DateTimeOffset.UtcNow);
        var to = DateTimeOffset.UtcNow;
        var calls = (await standIn.Completions()).Where(c => c.Key == platformKey && c.At <= to).ToList();
        var limited = calls.Count(c => c.Status == 429);
        var inWindow = calls.Where(c => c.At > from).ToList();
        var minutes = (to - from).TotalMinutes;
        var tokens = inWindow.Where(c => c.Status == 200).Sum(c => c.PromptTokens + c.CompletionTokens);
        Print($"d. provider budget: {tokens / minutes:0} tokens a minute = {100 * tokens / minutes / tpm:0.0}% of {tpm}, " +
              $"{inWindow.Count / minutes:0.0} requests a minute (limit {rpm}) over {(to - from).TotalSeconds:0} s (target ≥ 90%)");
        Print($"d. provider budget: {limited} of {calls.Count} calls answered 429 = {100.0 * limited / Math.Max(1, calls.Count):0.00}% since the start (target ≤ 1%)");

        var byUser = await cluster.Query("""
            SELECT user_id, sum(prompt_tokens + completion_tokens)::float8 FROM tasks
            WHERE status = 'completed' AND finished_at > $1 AND finished_at <= $2 GROUP BY user_id
            """, r => (User: r.GetString(0), Tokens: r.GetDouble(1)), from, to);
        var share = byUser.Where(u => u.User == "budget-starter").Sum(u => u.Tokens) / Math.Max(1, byUser.Sum(u => u.Tokens));
        const double fair = 3.0 / 13;
        Print($"d. provider budget: the starter's share of the tokens {100 * share:0.0}%, by weight {100 * fair:0.0}%, " +
              $"error {100 * (share - fair) / fair:+0;-0;0}% over the same window (target ±10%)");
    }

    /// <summary>
    /// Each user's time-averaged running (started, not finished) over <paramref name="window"/>, which begins once the
    /// fleet is full, and a timeline of their running counts every five seconds.
    /// </summary>
    static async Task<Dictionary<string, double>> Measure(PlatformCluster cluster, TimeSpan window, IReadOnlyList<string> users)
    {
        await Saturated(cluster);
        var from = DateTimeOffset.UtcNow;
        await Task.Delay(window);
        var to = DateTimeOffset.UtcNow;

        var rows = await cluster.Query("""
            SELECT user_id, task_id, batch_id, started_at, coalesce(finished_at, $2)
            FROM tasks WHERE started_at IS NOT NULL AND started_at < $2 AND (finished_at IS NULL OR finished_at > $1)
            """, r => (UserId: r.GetString(0), Interval: new Interval(r.GetGuid(1), r.GetGuid(2), r.GetFieldValue<DateTimeOffset>(3), r.GetFieldValue<DateTimeOffset>(4))),
            from, to);
        var held = users.ToDictionary(u => u, u => rows.Where(r => r.UserId == u)
            .Sum(r => (Min(r.Interval.To, to) - Max(r.Interval.From, from)).TotalSeconds) / (to - from).TotalSeconds);

        for (var t = from; t <= to; t += TimeSpan.FromSeconds(5))
        {
            var at = t;
            Print($"   running at +{(at - from).TotalSeconds,2:0} s: " +
                  string.Join(", ", users.Select(u => $"{u} {Timeline.OpenAt(rows.Where(r => r.UserId == u).Select(r => r.Interval), at)}")));
        }

        return held;
    }

    // The fleet is full once every worker runs all it can: the registry's view says so.
    static async Task Saturated(PlatformCluster cluster)
    {
        using var admin = cluster.Client();
        await Poll.Until(async () => (await PlatformCluster.GetJson(admin, "/v1/admin/fleet"))["workers"]!.AsArray().Sum(w => w!["running"]!.GetValue<int>()),
            running => running >= Fleet, TimeSpan.FromSeconds(60), "the fleet to be full", TimeSpan.FromMilliseconds(100));
    }

    static IEnumerable<object> AboutOneSecond(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs = random.Next(500, 1501) } });
    }


    static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    static void Print(string line) => Console.WriteLine("[bench] " + line);
}
