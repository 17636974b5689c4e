using Platform.Testing;

namespace Platform.Drills.Tests;

/// <summary>
/// SIGTERM to a worker 1 s into its 4 s tasks: it finishes them, starts nothing new, and exits 0; the other worker
/// runs the rest of the batch.
/// </summary>
[TestFixture]
public sealed class When_a_worker_is_stopped_gracefully
{
    const int TaskMs = 4000;

    PlatformCluster _cluster = null!;
    string _stopped = "";
    DateTimeOffset _signalledAt;
    int _exitCode;
    TimeSpan _exitedAfter;

    [OneTimeSetUp]
    public async Task StopAWorkerMidTask()
    {
        _cluster = await PlatformCluster.Start(nameof(When_a_worker_is_stopped_gracefully), orchestrators: 1, workers: 2);
        using var user = await _cluster.CreateUser("shutdown-user", "starter");
        await PlatformCluster.SubmitBatch(user, "long-ish tasks", Drill.Inputs(8, _ => TaskMs));

        var worker = _cluster.Workers.First();
        _stopped = Drill.WorkerName(worker);
        await Drill.WaitForTasks(_cluster, "worker = $1 AND status = 'running' AND started_at IS NOT NULL", 1, TimeSpan.FromSeconds(30),
            "the first worker to start a task", _stopped);
        var firstStart = await _cluster.Scalar<DateTimeOffset>("SELECT min(started_at) FROM tasks WHERE worker = $1", _stopped);
        var wait = firstStart + TimeSpan.FromSeconds(1) - DateTimeOffset.UtcNow;
        if (wait > TimeSpan.Zero)
            await Task.Delay(wait);

        _signalledAt = DateTimeOffset.UtcNow;
        await worker.Stop(TimeSpan.FromSeconds(60));
        _exitedAfter = DateTimeOffset.UtcNow - _signalledAt;
        _exitCode = worker.ExitCode;
        await Drill.WaitForBatchesToFinish(_cluster, TimeSpan.FromSeconds(60));
    }

    [OneTimeTearDown]
    public Task Stop() => _cluster.DisposeAsync().AsTask();

    [Test]
    public async Task Should_finish_its_running_tasks_and_start_none_after_the_signal()
    {
        var tasks = await Drill.Tasks(_cluster);
        var its = tasks.Where(t => t.Worker == _stopped).ToList();
        Drill.Print($"SIGTERM at {_signalledAt:HH:mm:ss.fff}; the worker exited {Drill.Seconds(_exitedAfter)} later with code {_exitCode}");
        foreach (var t in its)
            Drill.Print($"  its task {t.Key}: {t.Status}, started {t.StartedAt:HH:mm:ss.fff}, finished {t.FinishedAt:HH:mm:ss.fff}, attempts {t.Attempts}");
        Drill.Print($"the other worker ran {tasks.Count(t => t.Worker != _stopped)} task(s)");

        Assert.Multiple(() =>
        {
            Assert.That(_exitCode, Is.Zero, "a graceful exit");
            Assert.That(its, Is.Not.Empty, "it was running tasks when signalled");
            Assert.That(its.Select(t => t.Status), Is.All.EqualTo("completed"));
            Assert.That(its.Select(t => t.StartedAt), Is.All.LessThan(_signalledAt), "no task started after the signal");
            Assert.That(its.Select(t => t.FinishedAt), Is.All.GreaterThan(_signalledAt), "its tasks ran on after the signal");
            Assert.That(tasks.Select(t => t.Attempts), Is.All.EqualTo(1), "nothing was abandoned and run again");
        });
    }

    [Test]
    public async Task Should_keep_the_books()
    {
        var report = await Invariants.AssertNothingLostNothingTwice(_cluster, TimeSpan.FromSeconds(30));
        Assert.That(report.Completed, Is.EqualTo(8));
    }
}
