using Platform.Testing;

namespace Platform.Drills.Tests;

/// <summary>
/// kill -9 of one of two orchestrators mid-batch (the other carries on), then of the last one (nothing dispatches until
/// a new orchestrator starts and picks up the queued events and rows).
/// </summary>
[TestFixture]
public sealed class When_an_orchestrator_is_killed_mid_batch
{
    const int TaskCount = 80;

    PlatformCluster _cluster = null!;
    TimeSpan _carriedOnAfter;
    TimeSpan _replacementResumedAfter;
    TimeSpan _outage;
    readonly List<string> _story = [];

    [OneTimeSetUp]
    public async Task KillOrchestratorsMidBatch()
    {
        _cluster = await PlatformCluster.Start(nameof(When_an_orchestrator_is_killed_mid_batch), orchestrators: 2, workers: 2);
        using var user = await _cluster.CreateUser("kill-orchestrator-user", "pro");
        await PlatformCluster.SubmitBatch(user, "eighty companies", Drill.Inputs(TaskCount, Drill.Between(400, 900)));

        await Drill.WaitForTasks(_cluster, "status = 'completed'", 15, TimeSpan.FromSeconds(60), "15 completed tasks");
        var first = _cluster.Orchestrators.First();
        await first.Kill();
        var killedAt = DateTimeOffset.UtcNow;
        await Drill.WaitForTasks(_cluster, "dispatched_at > $1", 1, TimeSpan.FromSeconds(30), "a dispatch by the surviving orchestrator", killedAt);
        _carriedOnAfter = await _cluster.Scalar<DateTimeOffset>("SELECT min(dispatched_at) FROM tasks WHERE dispatched_at > $1", killedAt) - killedAt;
        Drill.Tell(_story, $"kill -9 {first.Name} at {killedAt:HH:mm:ss.fff}: the other dispatched again {Drill.Seconds(_carriedOnAfter)} later");

        await Drill.WaitForTasks(_cluster, "status = 'completed'", 40, TimeSpan.FromSeconds(60), "40 completed tasks");
        var last = _cluster.Orchestrators.Last();
        await last.Kill();
        var lastKilledAt = DateTimeOffset.UtcNow;
        var replacement = await _cluster.StartService("Platform.Orchestrator", "orchestrator-3");
        var readyAt = DateTimeOffset.UtcNow;
        _outage = readyAt - lastKilledAt;
        await Drill.WaitForTasks(_cluster, "dispatched_at > $1", 1, TimeSpan.FromSeconds(30), "a dispatch by the replacement", lastKilledAt);
        _replacementResumedAfter = await _cluster.Scalar<DateTimeOffset>("SELECT min(dispatched_at) FROM tasks WHERE dispatched_at > $1", lastKilledAt) - readyAt;
        Drill.Tell(_story, $"kill -9 {last.Name} (the last) at {lastKilledAt:HH:mm:ss.fff}; {replacement.Name} ready {Drill.Seconds(_outage)} later, dispatching {Drill.Seconds(_replacementResumedAfter)} after that");

        await Drill.WaitForBatchesToFinish(_cluster, TimeSpan.FromSeconds(120));
    }

    [OneTimeTearDown]
    public Task Stop() => _cluster.DisposeAsync().AsTask();

    [Test]
    public void Should_carry_on_with_the_surviving_orchestrator_at_once()
    {
        Drill.Retell(_story);
        Assert.That(_carriedOnAfter, Is.LessThan(TimeSpan.FromSeconds(10)));
    }

    [Test]
    public async Task Should_keep_the_books()
    {
        Drill.Retell(_story);
        var report = await Invariants.AssertNothingLostNothingTwice(_cluster, TimeSpan.FromSeconds(30));
        Assert.That(report.Completed, Is.EqualTo(TaskCount));
    }
}
