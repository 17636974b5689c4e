using Platform.Contracts;
using Platform.Data.Model;

namespace Platform.Orchestrator.Tests.StateMachines;

[TestFixture]
public sealed class When_a_task_of_a_batch_is_cancelled
{
    BatchSagaHarness _bus = null!;
    Guid _batchId;

    [OneTimeSetUp]
    public async Task CompleteOneAndCancelOne()
    {
        _bus = await BatchSagaHarness.Start();
        _batchId = await _bus.SubmitBatch(total: 2);
        await _bus.Deliver(new TaskCompleted(Guid.NewGuid(), _batchId, "user-1", 0, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow));
        await _bus.Deliver(new TaskCancelled(Guid.NewGuid(), _batchId, "user-1", null, DateTimeOffset.UtcNow));
    }

    [OneTimeTearDown]
    public Task Stop() => _bus.DisposeAsync().AsTask();

    [Test]
    public async Task Should_be_cancelled_even_though_a_task_completed()
    {
        var saga = await _bus.InState(_batchId, m => m.Cancelled);

        Assert.Multiple(() =>
        {
            Assert.That(saga.Completed, Is.EqualTo(1));
            Assert.That(saga.Cancelled, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Should_publish_batch_finished_as_cancelled()
    {
        var finished = await _bus.PublishedFor<BatchFinished>(_batchId, m => m.BatchId);

        Assert.That(finished.Select(f => (f.Status, f.Completed, f.Cancelled)), Is.EqualTo(new[] { (BatchStatuses.Cancelled, 1, 1) }));
    }

    [Test]
    public async Task Should_report_progress_in_the_status_each_task_left_the_batch_in()
    {
        var progress = await _bus.PublishedFor<BatchProgressed>(_batchId, m => m.BatchId);

        // The first task ended while the batch was still queued (no TaskStarted seen): that made it running, not queued.
        Assert.That(progress.Select(p => (p.Status, p.Completed, p.Cancelled)),
            Is.EqualTo(new[] { (BatchStatuses.Running, 1, 0), (BatchStatuses.Cancelled, 1, 1) }));
    }
}
