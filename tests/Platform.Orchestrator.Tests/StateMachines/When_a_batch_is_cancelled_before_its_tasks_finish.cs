using Platform.Contracts;
using Platform.Data.Model;

namespace Platform.Orchestrator.Tests.StateMachines;

/// <summary>
/// A cancellation as the saga sees it: one task had started (its stop is reported while the queued ones' are still
/// arriving), a cancelled task's event arrives twice, and a stale start comes in after the end.
/// </summary>
[TestFixture]
public sealed class When_a_batch_is_cancelled_before_its_tasks_finish
{
    const int Total = 3;

    BatchSagaHarness _bus = null!;
    Guid _batchId;

    [OneTimeSetUp]
    public async Task StartOneThenCancelAll()
    {
        _bus = await BatchSagaHarness.Start();
        _batchId = await _bus.SubmitBatch(Total);
        var running = Guid.NewGuid();
        var queued = new TaskCancelled(Guid.NewGuid(), _batchId, "user-1", null, DateTimeOffset.UtcNow);

        await _bus.Deliver(new TaskStarted(running, _batchId, "user-1", 0, 1, DateTimeOffset.UtcNow));
        await _bus.Deliver(queued);
        await _bus.Deliver(queued);
        await _bus.Deliver(new TaskCancelled(Guid.NewGuid(), _batchId, "user-1", null, DateTimeOffset.UtcNow));
        await _bus.Deliver(new TaskCancelled(running, _batchId, "user-1", 0, DateTimeOffset.UtcNow));
        await _bus.Deliver(new TaskStarted(Guid.NewGuid(), _batchId, "user-1", 1, 1, DateTimeOffset.UtcNow));
    }

    [OneTimeTearDown]
    public Task Stop() => _bus.DisposeAsync().AsTask();

    [Test]
    public async Task Should_end_cancelled_counting_each_task_once()
    {
        var saga = await _bus.InState(_batchId, m => m.Cancelled);

        Assert.Multiple(() =>
        {
            Assert.That((saga.Completed, saga.Failed, saga.Cancelled), Is.EqualTo((0, 0, Total)));
            Assert.That(saga.FinishedAt, Is.Not.Null);
        });
    }

    [Test]
    public async Task Should_announce_the_end_once()
    {
        var finished = await _bus.PublishedFor<BatchFinished>(_batchId, m => m.BatchId);

        Assert.That(finished.Select(f => (f.Status, f.Total, f.Cancelled)), Is.EqualTo(new[] { (BatchStatuses.Cancelled, Total, Total) }));
    }

    [Test]
    public async Task Should_report_progress_once_per_cancelled_task()
    {
        var progress = await _bus.PublishedFor<BatchProgressed>(_batchId, m => m.BatchId);

        Assert.That(progress.Select(p => (p.Status, p.Cancelled)),
            Is.EqualTo(new[] { (BatchStatuses.Running, 1), (BatchStatuses.Running, 2), (BatchStatuses.Cancelled, 3) }));
    }
}
