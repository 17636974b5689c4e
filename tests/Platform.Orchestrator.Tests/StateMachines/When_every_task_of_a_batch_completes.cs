using Platform.Contracts;
using Platform.Data.Model;

namespace Platform.Orchestrator.Tests.StateMachines;

[TestFixture]
public sealed class When_every_task_of_a_batch_completes
{
    BatchSagaHarness _bus = null!;
    Guid _batchId;

    [OneTimeSetUp]
    public async Task CompleteThreeTasks()
    {
        _bus = await BatchSagaHarness.Start();
        _batchId = await _bus.SubmitBatch(total: 3);
        for (var i = 0; i < 3; i++)
        {
            var taskId = Guid.NewGuid();
            await _bus.Deliver(new TaskStarted(taskId, _batchId, "user-1", i, 1, DateTimeOffset.UtcNow));
            await _bus.Deliver(new TaskCompleted(taskId, _batchId, "user-1", i, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow));
        }
    }

    [OneTimeTearDown]
    public Task Stop() => _bus.DisposeAsync().AsTask();

    [Test]
    public async Task Should_be_completed_with_every_task_counted()
    {
        var saga = await _bus.InState(_batchId, m => m.Completed);

        Assert.Multiple(() =>
        {
            Assert.That(saga.Completed, Is.EqualTo(3));
            Assert.That(saga.Failed, Is.Zero);
            Assert.That(saga.Cancelled, Is.Zero);
            Assert.That(saga.FinishedAt, Is.Not.Null);
            Assert.That(saga.StartedAt, Is.Not.Null);
        });
    }

    [Test]
    public async Task Should_publish_batch_finished_once_with_the_counters()
    {
        var finished = await _bus.PublishedFor<BatchFinished>(_batchId, m => m.BatchId);

        Assert.That(finished, Has.Count.EqualTo(1));
        Assert.Multiple(() =>
        {
            Assert.That(finished[0].Status, Is.EqualTo(BatchStatuses.Completed));
            Assert.That(finished[0].UserId, Is.EqualTo("user-1"));
            Assert.That(finished[0].Total, Is.EqualTo(3));
            Assert.That(finished[0].Completed, Is.EqualTo(3));
            Assert.That(finished[0].Failed, Is.Zero);
            Assert.That(finished[0].Cancelled, Is.Zero);
        });
    }

    [Test]
    public async Task Should_publish_progress_after_each_task_with_running_counters()
    {
        var progress = await _bus.PublishedFor<BatchProgressed>(_batchId, m => m.BatchId);

        Assert.That(progress.Select(p => (p.Completed, p.Failed, p.Cancelled, p.Total)),
            Is.EqualTo(new[] { (1, 0, 0, 3), (2, 0, 0, 3), (3, 0, 0, 3) }));
    }

    [Test]
    public async Task Should_report_the_status_each_task_left_the_batch_in()
    {
        var progress = await _bus.PublishedFor<BatchProgressed>(_batchId, m => m.BatchId);

        // The last task finished the batch: its progress must not still say "running" beside 3 of 3 completed.
        Assert.That(progress.Select(p => p.Status),
            Is.EqualTo(new[] { BatchStatuses.Running, BatchStatuses.Running, BatchStatuses.Completed }));
    }
}
