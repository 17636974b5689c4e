using Platform.Testing;

namespace Platform.Drills.Tests;

/// <summary>
/// kill -9 of one of three workers while it runs a share of a 60-task batch, at least one of them a task it was handed
/// over (the next task of a slot it freed, run under the lease of the ExecuteTask it holds): RabbitMQ redelivers its
/// unacknowledged ExecuteTasks to the others, which take over whichever task carries each lease (attempt 2) and finish
/// each task once.
/// </summary>
[TestFixture]
public sealed class When_a_worker_is_killed_mid_task
{
    const int TaskCount = 60;

    PlatformCluster _cluster = null!;
    string _killed = "";
    DateTimeOffset _killedAt;
    List<Guid> _orphaned = [];
    List<Guid> _orphanedHandedOver = [];
    readonly List<string> _story = [];

    [OneTimeSetUp]
    public async Task KillAWorkerMidBatch()
    {
        _cluster = await PlatformCluster.Start(nameof(When_a_worker_is_killed_mid_task), orchestrators: 1, workers: 3);
        using var user = await _cluster.CreateUser("kill-worker-user", "pro");
        await PlatformCluster.SubmitBatch(user, "sixty companies", Drill.Inputs(TaskCount, Drill.Between(1000, 2000)));

        var victim = _cluster.Workers.First();
        _killed = Drill.WorkerName(victim);
        const string running = "worker = $1 AND status = 'running' AND started_at IS NOT NULL";
        // The moment must be caught with the worker frozen: on a busy machine the handed-over task seen running could
        // otherwise finish between the look and the kill. What it runs while frozen is what the kill orphans (read
        // before the kill: its redelivery moves those tasks to another worker within a fraction of a second).
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(60);
        List<TaskRun> orphaned;
        while (true)
        {
            await Drill.WaitForTasks(_cluster, running, 2, TimeSpan.FromSeconds(30), "the victim to run two tasks at once", _killed);
            await Drill.WaitForTasks(_cluster, $"{running} AND {Drill.HandedOverSql}", 1, TimeSpan.FromSeconds(30),
                "the victim to run a task it was handed over", _killed);
            await victim.Freeze();
            orphaned = (await Drill.Tasks(_cluster)).Where(t => t.Worker == _killed && t.Status == "running" && t.StartedAt is not null).ToList();
            if ((orphaned.Count >= 2 && orphaned.Any(t => t.HandedOver)) || DateTimeOffset.UtcNow > deadline)
                break;
            await victim.Thaw();
        }

        _killedAt = DateTimeOffset.UtcNow;
        await victim.Kill();
        _orphaned = orphaned.Select(t => t.TaskId).ToList();
        _orphanedHandedOver = orphaned.Where(t => t.HandedOver).Select(t => t.TaskId).ToList();
        Drill.Tell(_story, $"kill -9 {_killed} at {_killedAt:HH:mm:ss.fff} with {_orphaned.Count} task(s) mid-run, {_orphanedHandedOver.Count} of them handed over");

        await Drill.WaitForBatchesToFinish(_cluster, TimeSpan.FromSeconds(120));
    }

    [OneTimeTearDown]
    public Task Stop() => _cluster.DisposeAsync().AsTask();

    [Test]
    public async Task Should_finish_the_killed_workers_tasks_elsewhere_once()
    {
        Drill.Retell(_story);
        var orphaned = (await Drill.Tasks(_cluster)).Where(t => _orphaned.Contains(t.TaskId)).ToList();
        var recovered = orphaned.Max(t => t.FinishedAt) - _killedAt;
        var firstRestart = orphaned.Min(t => t.StartedAt) - _killedAt;
        Drill.Print($"{orphaned.Count} orphaned task(s): restarted elsewhere {Drill.Seconds(firstRestart ?? TimeSpan.Zero)} after the kill, all done {Drill.Seconds(recovered ?? TimeSpan.Zero)} after it");
        Drill.Print($"attempts of the orphaned tasks: {string.Join(", ", orphaned.Select(t => t.Attempts))}");

        Assert.Multiple(() =>
        {
            Assert.That(orphaned, Has.Count.GreaterThanOrEqualTo(2));
            Assert.That(_orphanedHandedOver, Is.Not.Empty, "a handed-over task was mid-run: its lease's redelivery must find it");
            Assert.That(orphaned.Select(t => t.Status), Is.All.EqualTo("completed"));
            Assert.That(orphaned.Select(t => t.Worker), Has.None.EqualTo(_killed), "claimed again by a surviving worker");
            Assert.That(orphaned.Select(t => t.Attempts), Is.All.EqualTo(2), "one attempt on the killed worker, one on its successor");
        });
    }

    [Test]
    public async Task Should_keep_the_books()
    {
        var report = await Invariants.AssertNothingLostNothingTwice(_cluster, TimeSpan.FromSeconds(30));
        Assert.That(report.Completed, Is.EqualTo(TaskCount));
    }
}
