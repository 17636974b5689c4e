using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.WorkQueue.Tests;

/// <summary>
/// The fleet registry on real processes (2 workers × 8, an enterprise user's backlog of 1 s tasks running on them): the
/// fleet's capacity is what the live workers offer, and it follows them as they die, join and stop, each measured from
/// the moment it happened to the first <c>GET /v1/admin/fleet</c> that shows it; nothing is lost meanwhile.
/// </summary>
[TestFixture]
public sealed class When_workers_join_and_leave_the_fleet
{
    const int Capacity = 8;

    // A killed worker's last heartbeat is up to one interval (1 s) older than the kill, and it stops counting one
    // timeout after that heartbeat. 4 s keeps "gone within 5 s of the kill" true whatever the kill's phase against the
    // heartbeat, with room for the view's own latency.
    static readonly TimeSpan WorkerTimeout = TimeSpan.FromSeconds(4);
    static readonly TimeSpan PruneAfter = TimeSpan.FromSeconds(8);

    PlatformCluster _cluster = null!;
    HttpClient _admin = null!;
    JsonObject _atStart = null!;
    JsonObject _whileBusy = null!;
    TimeSpan _killedGone;
    JsonObject _afterKill = null!;
    TimeSpan _addedCounted;
    JsonObject _afterAdd = null!;
    TimeSpan _stoppedGone;
    bool _stoppedRowRemoved;
    TimeSpan? _killedPruned;
    HttpStatusCode _userAsked;
    string _killed = "";
    string _added = "";
    string _stopped = "";

    [OneTimeSetUp]
    public async Task KillAddAndStopWorkers()
    {
        _cluster = await PlatformCluster.Start(nameof(When_workers_join_and_leave_the_fleet), orchestrators: 1, workers: 2,
            settings: new Dictionary<string, string>
            {
                ["Platform__Worker__Capacity"] = $"{Capacity}",
                ["Platform__Fleet__WorkerTimeout"] = WorkerTimeout.ToString(),
                ["Platform__Fleet__PruneAfter"] = PruneAfter.ToString(),
            });
        _admin = _cluster.Client();
        _atStart = await Fleet();

        var heavy = await _cluster.CreateUser("heavy", "enterprise");
        await PlatformCluster.SubmitBatch(heavy, "backlog",
            Enumerable.Range(0, 300).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs = 1000 } }));
        _whileBusy = await Poll.Until(Fleet, f => Workers(f).Sum(w => Int(w, "running")) == 2 * Capacity,
            TimeSpan.FromSeconds(30), "the backlog to fill both workers");
        using (var user = await _cluster.CreateUser("curious", "free"))
        using (var response = await user.GetAsync("/v1/admin/fleet"))
            _userAsked = response.StatusCode;

        var workers = _cluster.Workers.ToList();
        _killed = WorkerId(workers[0]);
        var kill = Stopwatch.StartNew();
        await workers[0].Kill();
        _afterKill = await Poll.Until(Fleet, f => !LiveWorkers(f).Contains(_killed), TimeSpan.FromSeconds(30), "the killed worker to leave the fleet",
            TimeSpan.FromMilliseconds(50));
        _killedGone = kill.Elapsed;

        var added = await _cluster.AddWorker();
        var ready = Stopwatch.StartNew();
        _added = WorkerId(added);
        _afterAdd = await Poll.Until(Fleet, f => LiveWorkers(f).Contains(_added), TimeSpan.FromSeconds(30), "the added worker to join the fleet",
            TimeSpan.FromMilliseconds(50));
        _addedCounted = ready.Elapsed;

        _stopped = WorkerId(workers[1]);
        var stop = Stopwatch.StartNew();
        var stopping = workers[1].Stop(TimeSpan.FromSeconds(90));
        await Poll.Until(Fleet, f => !LiveWorkers(f).Contains(_stopped), TimeSpan.FromSeconds(30), "the stopping worker to leave the fleet",
            TimeSpan.FromMilliseconds(50));
        _stoppedGone = stop.Elapsed;
        await stopping;
        _stoppedRowRemoved = !Workers(await Fleet()).Any(w => w["worker"]!.GetValue<string>() == _stopped);

        // The reconciler prunes the killed worker's row once it has been silent for PruneAfter (a pass a second).
        try
        {
            await Poll.Until(Fleet, f => !Workers(f).Any(w => w["worker"]!.GetValue<string>() == _killed), PruneAfter + TimeSpan.FromSeconds(10),
                "the killed worker's row to be pruned", TimeSpan.FromMilliseconds(200));
            _killedPruned = kill.Elapsed;
        }
        catch (TimeoutException)
        {
            _killedPruned = null;
        }
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _admin?.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public void Should_count_every_workers_capacity_at_start()
    {
        TestContext.Out.WriteLine($"at start: {_atStart.ToJsonString()}");
        Assert.Multiple(() =>
        {
            Assert.That(Int(_atStart, "capacity"), Is.EqualTo(2 * Capacity), "2 workers × 8");
            Assert.That(Workers(_atStart).Select(w => Int(w, "capacity")), Is.EqualTo(new[] { Capacity, Capacity }));
            Assert.That(Workers(_atStart).All(w => w["live"]!.GetValue<bool>()), Is.True, "both live");
        });
    }

    [Test]
    public void Should_show_whom_the_fleet_runs_for()
    {
        TestContext.Out.WriteLine($"while busy: {_whileBusy.ToJsonString()}");
        var heavy = Shares(_whileBusy).Single(u => u["userId"]!.GetValue<string>() == "heavy");
        Assert.Multiple(() =>
        {
            Assert.That(Workers(_whileBusy).Select(w => Int(w, "running")), Is.All.EqualTo(Capacity), "each worker runs what it can");
            // A task is dispatched only onto a free unit of the fleet: nothing waits in the broker for a worker.
            Assert.That(Int(_whileBusy, "running"), Is.EqualTo(2 * Capacity), "in flight: exactly what the fleet runs");
            Assert.That(Int(heavy, "running"), Is.EqualTo(Int(_whileBusy, "running")), "all of it the one user's");
            Assert.That(heavy["tier"]!.GetValue<string>(), Is.EqualTo("enterprise"));
            Assert.That(heavy["weight"]!.GetValue<double>(), Is.EqualTo(50), "an enterprise weighs its 50 slots by default");
            Assert.That(Int(heavy, "slots"), Is.EqualTo(50));
            Assert.That(Int(heavy, "running") + Int(heavy, "queued"), Is.InRange(250, 300), "the backlog: running and queued");
            Assert.That(heavy["fairShare"]!.GetValue<double>(), Is.EqualTo(2 * Capacity), "alone with work, its fair share is the whole fleet");
        });
    }

    [Test]
    public void Should_answer_a_user_with_403() => Assert.That(_userAsked, Is.EqualTo(HttpStatusCode.Forbidden));

    [Test]
    public void Should_drop_a_killed_worker_within_5_s()
    {
        TestContext.Out.WriteLine($"kill -9 of {_killed} → first view without it: {_killedGone.TotalMilliseconds:0} ms; {_afterKill.ToJsonString()}");
        Assert.Multiple(() =>
        {
            Assert.That(_killedGone, Is.LessThanOrEqualTo(TimeSpan.FromSeconds(5)));
            Assert.That(Int(_afterKill, "capacity"), Is.EqualTo(Capacity), "only the survivor's capacity");
            Assert.That(Workers(_afterKill).Any(w => w["worker"]!.GetValue<string>() == _killed && !w["live"]!.GetValue<bool>()), Is.True,
                "still listed, as not live, until pruned");
        });
    }

    [Test]
    public void Should_count_an_added_worker_within_2_s_of_its_readiness()
    {
        TestContext.Out.WriteLine($"{_added} ready → first view with it: {_addedCounted.TotalMilliseconds:0} ms; {_afterAdd.ToJsonString()}");
        Assert.Multiple(() =>
        {
            Assert.That(_addedCounted, Is.LessThanOrEqualTo(TimeSpan.FromSeconds(2)));
            Assert.That(Int(_afterAdd, "capacity"), Is.EqualTo(2 * Capacity), "the survivor and the new one");
        });
    }

    [Test]
    public void Should_drop_a_stopping_worker_at_once_and_remove_it_once_stopped()
    {
        TestContext.Out.WriteLine($"SIGTERM to {_stopped} → first view without it: {_stoppedGone.TotalMilliseconds:0} ms; row removed on exit: {_stoppedRowRemoved}");
        Assert.Multiple(() =>
        {
            Assert.That(_stoppedGone, Is.LessThanOrEqualTo(TimeSpan.FromSeconds(1)), "gone when the stop begins, not when its heartbeat ages");
            Assert.That(_stoppedRowRemoved, Is.True, "a graceful stop deletes its own row");
        });
    }

    [Test]
    public void Should_prune_a_killed_workers_row()
    {
        TestContext.Out.WriteLine($"{_killed}'s row pruned {_killedPruned?.TotalSeconds:0.0} s after the kill (prune after {PruneAfter.TotalSeconds:0} s of silence)");
        Assert.That(_killedPruned, Is.Not.Null.And.GreaterThanOrEqualTo(PruneAfter - TimeSpan.FromSeconds(1)),
            "pruned by the reconciler, and not before it was silent for PruneAfter");
    }

    [Test]
    public async Task Should_lose_nothing()
    {
        var report = await Invariants.AssertNothingLostNothingTwice(_cluster, TimeSpan.FromMinutes(3));
        Assert.That(report.Tasks, Is.EqualTo(300));
    }

    Task<JsonObject> Fleet() => PlatformCluster.GetJson(_admin, "/v1/admin/fleet");

    static string WorkerId(ServiceProcess worker) => $"{Environment.MachineName}:{worker.Id}";

    static int Int(JsonNode node, string name) => node[name]!.GetValue<int>();

    static IEnumerable<JsonNode> Workers(JsonObject fleet) => fleet["workers"]!.AsArray().Select(w => w!);

    static IEnumerable<JsonNode> Shares(JsonObject fleet) => fleet["shares"]!.AsArray().Select(u => u!);

    static List<string> LiveWorkers(JsonObject fleet) =>
        Workers(fleet).Where(w => w["live"]!.GetValue<bool>()).Select(w => w["worker"]!.GetValue<string>()).ToList();
}
