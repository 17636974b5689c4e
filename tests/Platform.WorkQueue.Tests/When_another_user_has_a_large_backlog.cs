using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.WorkQueue.Tests;

/// <summary>
/// Invariant 3 of DESIGN.md: user A's 20,000 queued tasks never delay user B's first task. Workers have spare capacity
/// (3 × 32 against A's 50 slots), which is the condition under which the invariant promises 500 ms. A's tasks take
/// 15–30 s, like short research tasks, so its fifty slots keep turning over (about twice a second) while the probes
/// run; how much churn two cores can take is the benchmark's business (infra/bench.sh), not isolation's.
/// </summary>
[TestFixture]
public sealed class When_another_user_has_a_large_backlog
{
    const int Backlog = 20_000;
    // Enough samples that the nearest-rank p99 is not simply the single worst probe on a busy two-core machine.
    const int Probes = 200;

    PlatformCluster _cluster = null!;
    readonly List<TimeSpan> _firstTaskStarted = [];
    long _backlogLeft;

    [OneTimeSetUp]
    public async Task FloodThenProbe()
    {
        _cluster = await PlatformCluster.Start(nameof(When_another_user_has_a_large_backlog), orchestrators: 2, workers: 3,
            settings: new Dictionary<string, string> { ["Platform__Worker__Capacity"] = "32" });

        var flooder = await _cluster.CreateUser("flooder", "enterprise");
        var submit = Stopwatch.StartNew();
        var durations = new Random(7);
        for (var b = 0; b < Backlog / 10_000; b++)
            await PlatformCluster.SubmitBatch(flooder, $"backlog {b}",
                Enumerable.Range(0, 10_000).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs = durations.Next(15_000, 30_000) } }));
        TestContext.Progress.WriteLine($"user A submitted {Backlog} tasks in {submit.Elapsed.TotalSeconds:0.0} s");

        // The first probes warm up every process's code paths (JIT) and are not measured.
        const int warmUp = 6;
        for (var i = 0; i < warmUp + Probes; i++)
        {
            var userId = $"probe-{i}";
            var user = await _cluster.CreateUser(userId, "free");
            var outbox = await _cluster.Scalar<long>("SELECT count(*) FROM outbox_messages");
            var sent = DateTimeOffset.UtcNow;
            await PlatformCluster.SubmitBatch(user, "one task", [new { company = "Probe", simulate = new { durationMs = 50 } }]);
            var started = await Poll.Until(
                () => _cluster.Query("SELECT started_at FROM tasks WHERE user_id = $1 AND started_at IS NOT NULL", r => r.GetFieldValue<DateTimeOffset>(0), userId),
                rows => rows.Count == 1, TimeSpan.FromSeconds(30), $"{userId}'s task to start", TimeSpan.FromMilliseconds(20));
            if (i >= warmUp)
                _firstTaskStarted.Add(started[0] - sent);
            var steps = (await _cluster.Query(
                "SELECT b.created_at, t.dispatched_at, t.started_at FROM tasks t JOIN batches b USING (batch_id) WHERE t.user_id = $1",
                r => (Accepted: r.GetFieldValue<DateTimeOffset>(0), Dispatched: r.GetFieldValue<DateTimeOffset>(1), Started: r.GetFieldValue<DateTimeOffset>(2)), userId)).Single();
            TestContext.Progress.WriteLine($"{userId} ({outbox} outbox rows waiting): accepted +{(steps.Accepted - sent).TotalMilliseconds:0} ms, dispatched +{(steps.Dispatched - sent).TotalMilliseconds:0} ms, started +{(steps.Started - sent).TotalMilliseconds:0} ms");
        }

        _backlogLeft = await _cluster.Scalar<long>("SELECT count(*) FROM tasks WHERE user_id = 'flooder' AND status = 'queued'");
    }

    [OneTimeTearDown]
    public async Task Stop() => await _cluster.DisposeAsync();

    [Test]
    public void Should_start_another_users_first_task_within_500_ms()
    {
        var sorted = _firstTaskStarted.Order().ToList();
        TimeSpan Percentile(double p) => sorted[(int)Math.Ceiling(p * sorted.Count) - 1]; // nearest rank
        TestContext.Out.WriteLine($"first task of {sorted.Count} users, submit → start: p50 {Percentile(0.5).TotalMilliseconds:0} ms, " +
                                  $"p99 {Percentile(0.99).TotalMilliseconds:0} ms, max {sorted[^1].TotalMilliseconds:0} ms; user A still had {_backlogLeft} queued");
        Assert.Multiple(() =>
        {
            Assert.That(_backlogLeft, Is.GreaterThan(Backlog * 9 / 10), "the backlog was still there while the probes ran");
            Assert.That(sorted, Has.Count.EqualTo(Probes));
            Assert.That(Percentile(0.99), Is.LessThanOrEqualTo(TimeSpan.FromMilliseconds(500)), "p99 of the first tasks' start");
        });
    }

    [Test]
    public async Task Should_keep_the_flooder_at_its_tier()
    {
        var view = await PlatformCluster.GetJson(_cluster.Client(), "/v1/users/flooder");
        var now = DateTimeOffset.UtcNow;
        var held = await _cluster.Query("SELECT task_id, batch_id, dispatched_at, finished_at FROM tasks WHERE user_id = 'flooder' AND dispatched_at IS NOT NULL",
            r => new Interval(r.GetGuid(0), r.GetGuid(1), r.GetFieldValue<DateTimeOffset>(2), r.IsDBNull(3) ? now : r.GetFieldValue<DateTimeOffset>(3)));
        var (peak, _) = Timeline.PeakOverlap(held);
        TestContext.Out.WriteLine($"flooder: {held.Count} tasks dispatched so far, at most {peak} holding a slot at once; reserved {view["reserved"]}");
        Assert.Multiple(() =>
        {
            Assert.That(peak, Is.EqualTo(view["concurrency"]!.GetValue<int>()), "all fifty slots used, never more: the backlog stays in PostgreSQL");
            Assert.That(view["reserved"]!.GetValue<int>(), Is.GreaterThan(Backlog * 9 / 10), "the backlog's quota is reserved");
        });
    }
}
