using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.WorkQueue.Tests;

/// <summary>
/// Invariants 1, 2 and 6 of DESIGN.md on real processes: two orchestrators and three workers share the dispatch work,
/// so a limit that held only inside one process would show up here. Every check reads the task rows' timestamps.
/// </summary>
[TestFixture]
public sealed class When_users_of_every_tier_share_the_platform
{
    PlatformCluster _cluster = null!;

    [OneTimeSetUp]
    public async Task Start() =>
        _cluster = await PlatformCluster.Start(nameof(When_users_of_every_tier_share_the_platform), orchestrators: 2, workers: 3, intakes: 2);

    [OneTimeTearDown]
    public async Task Stop() => await _cluster.DisposeAsync();

    // Tasks of a second: long enough that a full wave of the tier's slots overlaps even when workers pick them up a
    // few hundred milliseconds apart on a busy machine.
    [TestCase("free", 1, 2, 4)]
    [TestCase("starter", 3, 3, 6)]
    [TestCase("pro", 10, 3, 20)]
    public async Task Should_hold_each_user_to_exactly_their_tier(string tier, int concurrency, int batches, int tasksPerBatch)
    {
        // All three tiers run at the same time (the test cases run one after another, so each case adds a noisy
        // neighbour of its own: an enterprise user with more work than the tier under test).
        var neighbour = await _cluster.CreateUser($"neighbour-of-{tier}", "enterprise");
        var noise = await PlatformCluster.SubmitBatch(neighbour, "noise", Tasks(60, durationMs: 300));
        var userId = $"tier-{tier}";
        var user = await _cluster.CreateUser(userId, tier);
        var submitted = await Task.WhenAll(Enumerable.Range(0, batches)
            .Select(b => PlatformCluster.SubmitBatch(user, $"{tier} batch {b}", Tasks(tasksPerBatch, durationMs: 1000))));

        await WaitFinished(user, submitted);
        await WaitFinished(neighbour, [noise]);

        var held = await Intervals(userId, from: "dispatched_at");
        var running = await Intervals(userId, from: "started_at");
        var (peakHeld, _) = Timeline.PeakOverlap(held);
        var (peakRunning, at) = Timeline.PeakOverlap(running);
        TestContext.Out.WriteLine($"{tier}: {held.Count} tasks; peak slots held {peakHeld}, peak running {peakRunning} (at {at:HH:mm:ss.fff}); tier allows {concurrency}");

        Assert.Multiple(() =>
        {
            Assert.That(held, Has.Count.EqualTo(batches * tasksPerBatch), "every task finished");
            Assert.That(peakHeld, Is.LessThanOrEqualTo(concurrency), "tasks holding a slot (dispatched or running) at one instant");
            Assert.That(peakRunning, Is.EqualTo(concurrency), "the user does get the parallelism they pay for");
        });
    }

    [Test]
    public async Task Should_alternate_between_two_batches_of_one_user()
    {
        const string userId = "round-robin";
        var user = await _cluster.CreateUser(userId, "starter");
        var first = await PlatformCluster.SubmitBatch(user, "first", Tasks(15, durationMs: 100));
        var second = await PlatformCluster.SubmitBatch(user, "second", Tasks(15, durationMs: 100));
        await WaitFinished(user, [first, second]);

        // "Started from a batch" is the dispatcher's choice, recorded as dispatched_at: every task of one decision
        // shares that timestamp, while the order in which workers then pick them up is a race between workers.
        var dispatches = await _cluster.Query("SELECT batch_id, dispatched_at FROM tasks WHERE user_id = $1",
            r => (Batch: r.GetGuid(0), At: r.GetFieldValue<DateTimeOffset>(1)), userId);
        var bothQueuedFrom = dispatches.Where(d => d.Batch == second).Min(d => d.At);
        var bothQueuedUntil = new[] { first, second }.Min(b => dispatches.Where(d => d.Batch == b).Max(d => d.At));
        var window = dispatches.Where(d => d.At >= bothQueuedFrom && d.At <= bothQueuedUntil).ToList();

        var fromFirst = 0;
        var fromSecond = 0;
        var worstGap = 0;
        foreach (var decision in window.GroupBy(d => d.At).OrderBy(g => g.Key))
        {
            fromFirst += decision.Count(d => d.Batch == first);
            fromSecond += decision.Count(d => d.Batch == second);
            worstGap = Math.Max(worstGap, Math.Abs(fromFirst - fromSecond));
        }

        TestContext.Out.WriteLine($"while both batches had queued tasks: {fromFirst} started from the first, {fromSecond} from the second, largest difference {worstGap}");
        Assert.Multiple(() =>
        {
            Assert.That(window, Has.Count.GreaterThanOrEqualTo(20), "enough dispatches while both batches had queued tasks to tell");
            Assert.That(worstGap, Is.LessThanOrEqualTo(1), "equal-priority batches alternate");
        });
    }

    [Test]
    public async Task Should_apply_an_upgrade_within_a_second_and_a_downgrade_once_in_flight_tasks_finish()
    {
        const string userId = "tier-change";
        var user = await _cluster.CreateUser(userId, "starter");
        var batch = await PlatformCluster.SubmitBatch(user, "changes tier midway", Tasks(36, durationMs: 1500));
        await Poll.Until(() => _cluster.Scalar<long>("SELECT count(*) FROM tasks WHERE user_id = $1 AND started_at IS NOT NULL", userId),
            started => started >= 3, TimeSpan.FromSeconds(30), "the starter user's three slots to be running");

        var upgradeAt = DateTimeOffset.UtcNow;
        await ChangeTier(userId, "pro");
        await Poll.Until(() => _cluster.Scalar<long>("SELECT count(*) FROM tasks WHERE user_id = $1 AND status = 'running' AND started_at IS NOT NULL", userId),
            running => running >= 10, TimeSpan.FromSeconds(10), "ten running tasks after the upgrade");

        await ChangeTier(userId, "starter");
        var downgraded = DateTimeOffset.UtcNow;
        await WaitFinished(user, [batch]);

        var running = await Intervals(userId, from: "started_at");
        var held = await Intervals(userId, from: "dispatched_at");
        var reachedTen = Timeline.FirstReaching(running, 10, upgradeAt);
        var inFlightAtDowngrade = held.Where(i => i.From < downgraded && i.To > downgraded).ToList();
        var drained = inFlightAtDowngrade.Max(i => i.To);
        var (peakAfterDrain, _) = Timeline.PeakOverlap(held.Where(i => i.To > drained)
            .Select(i => i with { From = i.From < drained ? drained : i.From }));
        var dispatchedAfterDowngrade = held.Where(i => i.From > downgraded).ToList();
        var worstAtDispatch = dispatchedAfterDowngrade.Count == 0 ? 0 : dispatchedAfterDowngrade.Max(i => Timeline.OpenAt(held, i.From));

        TestContext.Out.WriteLine($"upgrade starter→pro: 10 running {(reachedTen - upgradeAt)?.TotalMilliseconds:0} ms after the change; " +
                                  $"downgrade pro→starter with {inFlightAtDowngrade.Count} in flight, drained {(drained - downgraded).TotalMilliseconds:0} ms later; " +
                                  $"afterwards peak {peakAfterDrain}, worst slots held at a new dispatch {worstAtDispatch} ({dispatchedAfterDowngrade.Count} dispatched after the downgrade)");
        Assert.Multiple(() =>
        {
            Assert.That(reachedTen, Is.Not.Null, "ten tasks ran together after the upgrade");
            Assert.That(reachedTen - upgradeAt, Is.LessThanOrEqualTo(TimeSpan.FromSeconds(1)), "the upgrade fills the new slots within a second");
            Assert.That(inFlightAtDowngrade, Has.Count.GreaterThan(3), "the downgrade happened while more than the new limit were in flight");
            Assert.That(dispatchedAfterDowngrade, Is.Not.Empty, "work was dispatched after the downgrade");
            Assert.That(worstAtDispatch, Is.LessThanOrEqualTo(3), "no dispatch after the downgrade exceeded the new limit");
            Assert.That(peakAfterDrain, Is.EqualTo(3), "once the in-flight tasks finished, the user ran at the new limit");
            Assert.That(held.Count(i => i.BatchId == batch), Is.EqualTo(36), "in-flight tasks were not dropped by the downgrade");
        });
    }

    [Test]
    public async Task Should_never_let_concurrent_submissions_exceed_the_quota()
    {
        const string userId = "quota-race";
        var user = await _cluster.CreateUser(userId, "free");
        using var second = _cluster.Client(ApiKeyOf(user), intake: 1);
        // Eight batches of ten against a quota of fifty, through both intakes at once.
        var attempts = await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            using var response = await (i % 2 == 0 ? user : second).PostAsJsonAsync("/v1/batches",
                new { name = $"race {i}", instructions = "Research {company}", tasks = Tasks(10, durationMs: 10).Select((input, k) => new { key = $"k{k}", input }) });
            return (response.StatusCode, Body: await response.Content.ReadFromJsonAsync<JsonObject>());
        }));
        var accepted = attempts.Where(a => a.StatusCode == HttpStatusCode.Accepted).Select(a => Guid.Parse(a.Body!["batchId"]!.GetValue<string>())).ToList();
        var refused = attempts.Where(a => a.StatusCode != HttpStatusCode.Accepted).ToList();
        await WaitFinished(user, accepted);
        var view = await PlatformCluster.GetJson(user, $"/v1/users/{userId}");
        var rows = await _cluster.Scalar<long>("SELECT count(*) FROM tasks WHERE user_id = $1", userId);

        TestContext.Out.WriteLine($"8 concurrent batches of 10 against a quota of 50: {accepted.Count} accepted, {refused.Count} refused; " +
                                  $"used {view["usedThisMonth"]}, reserved {view["reserved"]}; first refusal: {refused.FirstOrDefault().Body?["detail"]}");
        Assert.Multiple(() =>
        {
            Assert.That(accepted, Has.Count.EqualTo(5), "exactly the batches that fit");
            Assert.That(refused.Select(r => r.StatusCode), Is.All.EqualTo(HttpStatusCode.UnprocessableEntity));
            Assert.That(refused.Select(r => r.Body!["remainingQuota"]!.GetValue<int>()), Is.All.LessThan(10), "each refusal names what remained");
            Assert.That(refused.Select(r => r.Body!["detail"]!.GetValue<string>()), Is.All.Contains("remain"));
            Assert.That(rows, Is.EqualTo(50), "task rows never exceed the quota");
            Assert.That(view["usedThisMonth"]!.GetValue<int>(), Is.EqualTo(50), "usage committed on completion");
            Assert.That(view["reserved"]!.GetValue<int>(), Is.EqualTo(0), "nothing left reserved");
        });
    }

    [Test]
    public async Task Should_release_the_quota_of_failed_tasks_and_start_a_new_month_fresh()
    {
        const string userId = "quota-months";
        var user = await _cluster.CreateUser(userId, "free");
        var batch = await PlatformCluster.SubmitBatch(user, "one fails", [
            new { company = "a", simulate = new { durationMs = 10 } },
            new { company = "b", simulate = new { durationMs = 10, fail = "permanent" } },
            new { company = "c", simulate = new { durationMs = 10 } },
        ]);
        await WaitFinished(user, [batch]);
        var afterFailure = await PlatformCluster.GetJson(user, $"/v1/users/{userId}");

        // Last month's usage, as if the clock had turned: the next batch and the view start from zero.
        await _cluster.Scalar<int>("UPDATE users SET quota_month = '2000-01', used_this_month = 50 WHERE user_id = $1 RETURNING 1", userId);
        var freshView = await PlatformCluster.GetJson(user, $"/v1/users/{userId}");
        using var fresh = await user.PostAsJsonAsync("/v1/batches",
            new { name = "new month", instructions = "Research {company}", tasks = Tasks(50, durationMs: 1).Select((input, k) => new { key = $"k{k}", input }) });

        Assert.Multiple(() =>
        {
            Assert.That(afterFailure["usedThisMonth"]!.GetValue<int>(), Is.EqualTo(2), "only completed tasks are used");
            Assert.That(afterFailure["reserved"]!.GetValue<int>(), Is.EqualTo(0), "the failed task's reservation was released");
            Assert.That(freshView["usedThisMonth"]!.GetValue<int>(), Is.EqualTo(0), "a new month shows no usage");
            Assert.That(fresh.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), "a full month's quota is available again");
        });
    }

    static IEnumerable<object> Tasks(int count, int durationMs) =>
        Enumerable.Range(0, count).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs } });

    static string ApiKeyOf(HttpClient client) => client.DefaultRequestHeaders.Authorization!.Parameter!;

    async Task ChangeTier(string userId, string tier)
    {
        using var admin = _cluster.Client();
        using var response = await admin.PutAsJsonAsync($"/v1/users/{userId}/tier", new { tier });
        await PlatformCluster.EnsureSuccess(response);
    }

    Task<List<Interval>> Intervals(string userId, string from) =>
        _cluster.Query($"SELECT task_id, batch_id, {from}, finished_at FROM tasks WHERE user_id = $1 AND finished_at IS NOT NULL",
            r => new Interval(r.GetGuid(0), r.GetGuid(1), r.GetFieldValue<DateTimeOffset>(2), r.GetFieldValue<DateTimeOffset>(3)), userId);

    async Task WaitFinished(HttpClient user, IEnumerable<Guid> batches)
    {
        var watch = Stopwatch.StartNew();
        foreach (var batch in batches)
        {
            try
            {
                await Poll.Until(async () => (await PlatformCluster.GetJson(user, $"/v1/batches/{batch}"))["status"]!.GetValue<string>(),
                    status => status is "completed" or "completed_with_failures" or "cancelled",
                    TimeSpan.FromSeconds(120) - watch.Elapsed, $"batch {batch} to finish");
            }
            catch (TimeoutException ex)
            {
                throw new TimeoutException(ex.Message + "\n" + _cluster.Logs(), ex);
            }
        }
    }
}
