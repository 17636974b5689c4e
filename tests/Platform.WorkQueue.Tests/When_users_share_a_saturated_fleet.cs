using System.Diagnostics;
using Platform.Testing;

namespace Platform.WorkQueue.Tests;

/// <summary>
/// Invariants 3 and 8 of DESIGN.md on real processes, a fleet of 2 workers × 8 kept saturated with tasks of 1 s, each
/// figure measured from the task rows' timestamps (a task holds a unit of the fleet from its dispatch to its end):
/// (a) a user with nothing running is served at the next unit that frees, however long the backlog ahead;
/// (b) backlogged users of three tiers hold the fleet in proportion to their weights;
/// (c) a user's share does not grow with its number of batches;
/// (d) a lone user gets min(its slots, the fleet), and follows the fleet as a worker dies and another joins.
/// Scenarios run one after another on one cluster, each with its own users; each ends by cancelling what is left.
/// </summary>
[TestFixture]
public sealed class When_users_share_a_saturated_fleet
{
    const int Capacity = 8;
    const int Fleet = 2 * Capacity;
    static readonly TimeSpan Window = TimeSpan.FromSeconds(40);

    PlatformCluster _cluster = null!;
    readonly Dictionary<string, HttpClient> _users = new(StringComparer.Ordinal);
    readonly List<double> _firstTaskMs = [];
    long _backlogLeft;
    Dictionary<string, double> _tiersHeld = null!;
    Dictionary<string, int> _tiersPeak = null!;
    Dictionary<string, double> _batchesHeld = null!;
    int _loneStarterPeak;
    int _loneEnterprisePeak;
    int _inFlightAfterKill;
    int _inFlightMaxAfterKill;
    TimeSpan _refilledAfterJoin;

    [OneTimeSetUp]
    public async Task Saturate()
    {
        _cluster = await PlatformCluster.Start(nameof(When_users_share_a_saturated_fleet), orchestrators: 1, workers: 2,
            settings: new Dictionary<string, string>
            {
                ["Platform__Worker__Capacity"] = $"{Capacity}",
                ["Platform__Fleet__WorkerTimeout"] = "00:00:04",
                ["Platform__RateLimit__PermitLimit"] = "1000000",
            });

        await Isolation();
        await WeightedShares();
        await BatchesDoNotBuyShare();
        await LoneUser();
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        foreach (var user in _users.Values)
            user.Dispose();
        await _cluster.DisposeAsync();
    }

    async Task<HttpClient> User(string userId, string tier) => _users[userId] = await _cluster.CreateUser(userId, tier);

    async Task Isolation()
    {
        foreach (var (name, seed) in new[] { ("heavy-1", 1), ("heavy-2", 2) })
        {
            await PlatformCluster.SubmitBatch(await User(name, "enterprise"), "backlog", AboutOneSecond(5000, seed));
        }

        await Saturated();
        // Unmeasured first, one at a time, until one starts within 300 ms (at most 6): the first time a unit changes hands
        // each process runs that path's code for the first time (JIT), and a slow machine takes a few seconds more to settle
        // after the burst; that is start-up, not isolation.
        for (var i = 0; i < 6; i++)
        {
            var warmUp = await PlatformCluster.SubmitBatch(await User($"warm-up-{i}", "free"), "one task", Inputs(1, 100));
            var startedAfter = await Poll.Until(() => _cluster.Query("""
                    SELECT extract(epoch FROM t.started_at - b.created_at) * 1000 FROM tasks t JOIN batches b USING (batch_id)
                    WHERE b.batch_id = $1 AND t.started_at IS NOT NULL
                    """, r => r.GetDouble(0), warmUp),
                rows => rows.Count == 1, TimeSpan.FromSeconds(30), "a warm-up user's task to start", TimeSpan.FromMilliseconds(50));
            if (startedAfter[0] < 300)
                break;
        }

        var probes = new List<HttpClient>();
        for (var i = 0; i < 20; i++)
            probes.Add(await User($"probe-{i:D2}", "free"));
        foreach (var probe in probes)
        {
            await PlatformCluster.SubmitBatch(probe, "one task", Inputs(1, 100));
            await Task.Delay(TimeSpan.FromMilliseconds(250)); // one after another, as the free users arrive
        }

        _firstTaskMs.AddRange(await Poll.Until(
            () => _cluster.Query("""
                SELECT extract(epoch FROM t.started_at - b.created_at) * 1000
                FROM tasks t JOIN batches b USING (batch_id) WHERE t.user_id LIKE 'probe-%' AND t.started_at IS NOT NULL
                """, r => r.GetDouble(0)),
            rows => rows.Count == 20, TimeSpan.FromSeconds(60), "every probe's task to start", TimeSpan.FromMilliseconds(100)));
        foreach (var (user, dispatched, started) in await _cluster.Query("""
                     SELECT t.user_id, extract(epoch FROM t.dispatched_at - b.created_at) * 1000, extract(epoch FROM t.started_at - b.created_at) * 1000
                     FROM tasks t JOIN batches b USING (batch_id) WHERE t.user_id LIKE 'probe-%' OR t.user_id LIKE 'warm-up-%' ORDER BY b.created_at
                     """, r => (r.GetString(0), r.GetDouble(1), r.GetDouble(2))))
            TestContext.Progress.WriteLine($"(a) {user}: dispatched +{dispatched:0} ms, started +{started:0} ms after its batch was accepted");
        _backlogLeft = await _cluster.Scalar<long>("SELECT count(*) FROM tasks WHERE user_id LIKE 'heavy-%' AND status = 'queued'");
        await CancelEverything();
    }

    async Task WeightedShares()
    {
        foreach (var (userId, tasks) in new[] { ("starter", 400), ("pro", 1200), ("enterprise", 3000) })
        {
            await PlatformCluster.SubmitBatch(await User(userId, userId), "backlog", Inputs(tasks, 1000));
        }

        (_tiersHeld, _tiersPeak) = await Measure(["starter", "pro", "enterprise"]);
        await CancelEverything();
    }

    async Task BatchesDoNotBuyShare()
    {
        await PlatformCluster.SubmitBatch(await User("one-batch", "enterprise"), "backlog", Inputs(1500, 1000));
        var many = await User("fifty-batches", "enterprise");
        for (var b = 0; b < 50; b++)
            await PlatformCluster.SubmitBatch(many, $"backlog {b}", Inputs(30, 1000));

        (_batchesHeld, _) = await Measure(["one-batch", "fifty-batches"]);
        await CancelEverything();
    }

    async Task LoneUser()
    {
        await PlatformCluster.SubmitBatch(await User("lone-starter", "starter"), "alone", Inputs(20, 1000));
        await Poll.Until(() => Unfinished("lone-starter"), n => n == 0, TimeSpan.FromSeconds(60), "the lone starter's batch to finish");
        _loneStarterPeak = (await PeakHeld("lone-starter")).Peak;

        await PlatformCluster.SubmitBatch(await User("lone-enterprise", "enterprise"), "alone", Inputs(300, 1000));
        await Saturated();
        _loneEnterprisePeak = (await PeakHeld("lone-enterprise")).Peak;

        // A worker dies: its tasks are redelivered to the survivor, and nothing more is dispatched than the fleet can run.
        await _cluster.Workers.First().Kill();
        var killed = Stopwatch.StartNew();
        while (killed.Elapsed < TimeSpan.FromSeconds(8))
        {
            _inFlightMaxAfterKill = Math.Max(_inFlightMaxAfterKill, await InFlight());
            await Task.Delay(200);
        }

        _inFlightAfterKill = await InFlight();
        await _cluster.AddWorker();
        var joined = Stopwatch.StartNew();
        await Poll.Until(InFlight, n => n == Fleet, TimeSpan.FromSeconds(30), "the joined worker's units to be used", TimeSpan.FromMilliseconds(50));
        _refilledAfterJoin = joined.Elapsed;
    }

    [Test]
    public void Should_start_a_free_users_first_task_within_500_ms_while_the_fleet_is_saturated()
    {
        var sorted = _firstTaskMs.Order().ToList();
        var p50 = sorted[(int)Math.Ceiling(0.5 * sorted.Count) - 1];
        var p99 = sorted[(int)Math.Ceiling(0.99 * sorted.Count) - 1];
        TestContext.Out.WriteLine($"(a) 20 free users' first task, submit → start: p50 {p50:0} ms, p99 {p99:0} ms, max {sorted[^1]:0} ms; " +
                                  $"{_backlogLeft} of 10,000 heavy tasks still queued");
        Assert.Multiple(() =>
        {
            Assert.That(_backlogLeft, Is.GreaterThan(9000), "the backlog was still there");
            Assert.That(p99, Is.LessThanOrEqualTo(500), "p99 first-task start");
        });
    }

    [Test]
    public void Should_share_the_fleet_by_weight_and_never_above_a_tier()
    {
        // Weights are the tiers' slots (3, 10, 50); none is capped by its slots on a fleet of 16.
        var weights = new Dictionary<string, double> { ["starter"] = 3, ["pro"] = 10, ["enterprise"] = 50 };
        var slots = new Dictionary<string, int> { ["starter"] = 3, ["pro"] = 10, ["enterprise"] = 50 };
        var held = _tiersHeld.Values.Sum();
        Assert.Multiple(() =>
        {
            foreach (var (user, weight) in weights)
            {
                // Measured on the split of what was held: a fleet short of full (bounded below) would shorten every share alike.
                var fair = weight / weights.Values.Sum();
                var share = _tiersHeld[user] / held;
                var error = (share - fair) / fair;
                TestContext.Out.WriteLine($"(b) {user,-10}: held {_tiersHeld[user]:0.00} of {Fleet} on average, {100 * share:0.0} % of what was held, " +
                                          $"fair {100 * fair:0.0} %, error {error * 100:+0.0;-0.0;0.0} %, peak {_tiersPeak[user]}");
                Assert.That(Math.Abs(error), Is.LessThanOrEqualTo(0.10), $"{user}'s share within ±10 % of its weighted fair share");
                Assert.That(_tiersPeak[user], Is.LessThanOrEqualTo(slots[user]), $"{user} never above its tier");
            }

            TestContext.Out.WriteLine($"(b) all three held {held:0.00} of {Fleet} on average");
            Assert.That(held, Is.GreaterThan(Fleet * 0.9), "work-conserving: the fleet stays full");
        });
    }

    [Test]
    public void Should_not_give_more_share_for_more_batches()
    {
        var one = _batchesHeld["one-batch"];
        var fifty = _batchesHeld["fifty-batches"];
        var jain = (one + fifty) * (one + fifty) / (2 * (one * one + fifty * fifty));
        TestContext.Out.WriteLine($"(c) one batch held {one:0.00}, fifty batches {fifty:0.00} of {Fleet}; Jain's index {jain:0.000}");
        Assert.Multiple(() =>
        {
            Assert.That(one, Is.EqualTo(Fleet / 2.0).Within(10).Percent);
            Assert.That(fifty, Is.EqualTo(Fleet / 2.0).Within(10).Percent);
        });
    }

    [Test]
    public void Should_give_a_lone_user_min_of_its_slots_and_the_fleet_and_follow_the_fleet()
    {
        TestContext.Out.WriteLine($"(d) lone starter peak {_loneStarterPeak}, lone enterprise peak {_loneEnterprisePeak}; after a kill: in flight " +
                                  $"at most {_inFlightMaxAfterKill}, {_inFlightAfterKill} after 8 s; joined worker's units used {_refilledAfterJoin.TotalMilliseconds:0} ms after it was ready");
        Assert.Multiple(() =>
        {
            Assert.That(_loneStarterPeak, Is.EqualTo(3), "a starter's 3 slots");
            Assert.That(_loneEnterprisePeak, Is.EqualTo(Fleet), "the whole fleet, not the 50 slots");
            Assert.That(_inFlightMaxAfterKill, Is.LessThanOrEqualTo(Fleet), "never more in flight than the fleet had");
            Assert.That(_inFlightAfterKill, Is.LessThanOrEqualTo(Capacity), "once the dead worker's capacity is gone, only the survivor's");
            Assert.That(_refilledAfterJoin, Is.LessThanOrEqualTo(TimeSpan.FromSeconds(5)), "a new worker's units used within 5 s");
        });
    }

    [Test]
    public async Task Should_lose_nothing()
    {
        await CancelEverything();
        var report = await Invariants.AssertNothingLostNothingTwice(_cluster, TimeSpan.FromMinutes(3));
        TestContext.Out.WriteLine(report.ToString());
    }

    /// <summary>Each user's time-averaged units held over the window, which begins once the fleet is full, and its peak.</summary>
    async Task<(Dictionary<string, double> Held, Dictionary<string, int> Peak)> Measure(IReadOnlyList<string> users)
    {
        await Saturated();
        var from = DateTimeOffset.UtcNow;
        await Task.Delay(Window);
        var to = DateTimeOffset.UtcNow;
        var held = new Dictionary<string, double>();
        var peak = new Dictionary<string, int>();
        foreach (var user in users)
        {
            var intervals = await Held(user, to);
            held[user] = Timeline.MeanOpen(intervals, from, to);
            peak[user] = Timeline.PeakOverlap(intervals).Peak;
        }

        return (held, peak);
    }

    Task<List<Interval>> Held(string userId, DateTimeOffset until) => _cluster.Query(
        "SELECT task_id, batch_id, dispatched_at, coalesce(finished_at, $2) FROM tasks WHERE user_id = $1 AND dispatched_at IS NOT NULL",
        r => new Interval(r.GetGuid(0), r.GetGuid(1), r.GetFieldValue<DateTimeOffset>(2), r.GetFieldValue<DateTimeOffset>(3)), userId, until);

    async Task<(int Peak, DateTimeOffset? At)> PeakHeld(string userId) => Timeline.PeakOverlap(await Held(userId, DateTimeOffset.UtcNow));

    Task<int> InFlight() => _cluster.Scalar<int>("SELECT count(*)::int FROM tasks WHERE status = 'running'");

    Task<long> Unfinished(string userId) =>
        _cluster.Scalar<long>("SELECT count(*) FROM tasks WHERE user_id = $1 AND status IN ('queued', 'running')", userId);

    Task<int> Saturated() => Poll.Until(InFlight, n => n >= Fleet, TimeSpan.FromSeconds(60), "the fleet to be full", TimeSpan.FromMilliseconds(50));

    /// <summary>Cancels every unfinished batch (as their owners would) and waits for the fleet to empty.</summary>
    async Task CancelEverything()
    {
        var batches = await _cluster.Query("""
            SELECT b.batch_id, b.user_id FROM batches b
            WHERE b.cancel_requested_at IS NULL AND EXISTS (SELECT 1 FROM tasks t WHERE t.batch_id = b.batch_id AND t.status IN ('queued', 'running'))
            """, r => (BatchId: r.GetGuid(0), UserId: r.GetString(1)));
        foreach (var (batchId, userId) in batches)
        {
            using var response = await _users[userId].DeleteAsync($"/v1/batches/{batchId}");
            if (response.StatusCode != System.Net.HttpStatusCode.Conflict) // 409: it finished meanwhile
                await PlatformCluster.EnsureSuccess(response);
        }

        await Poll.Until(InFlight, n => n == 0, TimeSpan.FromSeconds(60), "the fleet to empty", TimeSpan.FromMilliseconds(100));
    }

    /// <summary>
    /// Tasks of 1 s on average, 0.5 to 1.5 s. With exactly equal durations every unit frees in the same instant each second,
    /// and no scheduler could start a newcomer before that instant; real tasks vary, and so units free one by one.
    /// </summary>
    static IEnumerable<object> AboutOneSecond(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs = random.Next(500, 1501) } });
    }

    static IEnumerable<object> Inputs(int count, int durationMs) =>
        Enumerable.Range(0, count).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs } });
}
