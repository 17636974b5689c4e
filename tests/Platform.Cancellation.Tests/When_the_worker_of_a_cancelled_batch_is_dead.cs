using Platform.Testing;

namespace Platform.Cancellation.Tests;

/// <summary>
/// The only worker is killed (SIGKILL) while it runs three tasks of a batch, then the batch is cancelled: nobody hears
/// the notification, so the orchestrator's reconciler ends the three once the grace period has passed, releasing their
/// quota and counting them like any other cancelled task.
/// </summary>
[TestFixture]
public sealed class When_the_worker_of_a_cancelled_batch_is_dead
{
    const string UserId = "dead-worker";
    static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);

    PlatformCluster _cluster = null!;
    HttpClient _user = null!;
    Guid _batchId;
    HashSet<Guid> _runningAtDelete = [];
    DateTimeOffset _deleteSentAt;

    [OneTimeSetUp]
    public async Task KillTheWorkerThenCancel()
    {
        _cluster = await PlatformCluster.Start(nameof(When_the_worker_of_a_cancelled_batch_is_dead), orchestrators: 1, workers: 1,
            settings: new Dictionary<string, string> { ["Platform__Reconciler__CancelGrace"] = Grace.ToString() });
        _user = await _cluster.CreateUser(UserId, "starter");
        _batchId = await PlatformCluster.SubmitBatch(_user, "slow", BatchRows.Inputs(6, durationMs: 60_000));
        await Poll.Until(() => BatchRows.StartedAndRunning(_cluster, _batchId), n => n == 3, TimeSpan.FromSeconds(30), "three tasks to start");
        _runningAtDelete = (await BatchRows.Tasks(_cluster, _batchId)).Where(t => t.Status == "running").Select(t => t.TaskId).ToHashSet();

        await _cluster.Workers.Single().Kill();
        _deleteSentAt = DateTimeOffset.UtcNow;
        await BatchRows.Delete(_user, _batchId);
        await BatchRows.WaitForStatus(_cluster, _user, _batchId, "cancelled", TimeSpan.FromSeconds(30));
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _user?.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public async Task Should_end_the_dead_worker_s_tasks_after_the_grace_period()
    {
        var stopped = (await BatchRows.Tasks(_cluster, _batchId)).Where(t => _runningAtDelete.Contains(t.TaskId)).ToList();
        var after = stopped.Select(t => t.FinishedAt!.Value - _deleteSentAt).ToList();
        TestContext.Out.WriteLine($"ended by the reconciler after: {string.Join(", ", after.Select(a => $"{a.TotalMilliseconds:0} ms"))}");

        Assert.Multiple(() =>
        {
            Assert.That(stopped, Has.Count.EqualTo(3));
            Assert.That(stopped.Select(t => t.Status), Is.All.EqualTo("cancelled"));
            Assert.That(after, Is.All.GreaterThanOrEqualTo(Grace), "not before the workers had their chance");
            Assert.That(after, Is.All.LessThan(Grace + TimeSpan.FromSeconds(5)));
        });
    }

    [Test]
    public async Task Should_release_the_quota_and_count_each_task_once()
    {
        var rows = await BatchRows.Tasks(_cluster, _batchId);
        var saga = await BatchRows.Saga(_cluster, _batchId);
        var (used, reserved) = await BatchRows.Usage(_cluster, UserId);
        var settled = await _cluster.Scalar<bool>("SELECT NOT cancelling FROM batches WHERE batch_id = $1", _batchId);

        Assert.Multiple(() =>
        {
            Assert.That(rows.Select(t => t.Status), Is.All.EqualTo("cancelled"));
            Assert.That(rows.Select(t => t.Counted), Is.All.True);
            Assert.That((saga.State, saga.Cancelled), Is.EqualTo(("Cancelled", 6)));
            Assert.That((used, reserved), Is.EqualTo((0, 0)));
            Assert.That(settled, Is.True, "the backstop no longer looks at the batch");
        });
    }
}
