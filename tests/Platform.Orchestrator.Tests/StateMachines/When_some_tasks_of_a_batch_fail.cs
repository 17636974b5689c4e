using Platform.Contracts;
using Platform.Data.Model;

namespace Platform.Orchestrator.Tests.StateMachines;

[TestFixture]
public sealed class When_some_tasks_of_a_batch_fail
{
    BatchSagaHarness _bus = null!;
    Guid _batchId;

    [OneTimeSetUp]
    public async Task CompleteTwoAndFailOne()
    {
        _bus = await BatchSagaHarness.Start();
        _batchId = await _bus.SubmitBatch(total: 3);
        var tasks = new[] { Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid() };
        await _bus.Deliver(new TaskStarted(tasks[0], _batchId, "user-1", 0, 1, DateTimeOffset.UtcNow));
        await _bus.Deliver(new TaskCompleted(tasks[0], _batchId, "user-1", 0, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow));
        await _bus.Deliver(new TaskFailed(tasks[1], _batchId, "user-1", 1, "provider said no", 3, DateTimeOffset.UtcNow));
        await _bus.Deliver(new TaskCompleted(tasks[2], _batchId, "user-1", 0, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow));
    }

    [OneTimeTearDown]
    public Task Stop() => _bus.DisposeAsync().AsTask();

    [Test]
    public async Task Should_be_completed_with_failures()
    {
        var saga = await _bus.InState(_batchId, m => m.CompletedWithFailures);

        Assert.Multiple(() =>
        {
            Assert.That(saga.Completed, Is.EqualTo(2));
            Assert.That(saga.Failed, Is.EqualTo(1));
            Assert.That(saga.FinishedAt, Is.Not.Null);
        });
    }

    [Test]
    public async Task Should_publish_batch_finished_with_the_failure_counted()
    {
        var finished = await _bus.PublishedFor<BatchFinished>(_batchId, m => m.BatchId);

        Assert.That(finished.Select(f => (f.Status, f.Total, f.Completed, f.Failed, f.Cancelled)),
            Is.EqualTo(new[] { (BatchStatuses.CompletedWithFailures, 3, 2, 1, 0) }));
    }
}
