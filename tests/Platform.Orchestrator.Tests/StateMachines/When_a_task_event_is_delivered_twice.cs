using Platform.Contracts;
using Platform.Data.Model;

namespace Platform.Orchestrator.Tests.StateMachines;

[TestFixture]
public sealed class When_a_task_event_is_delivered_twice
{
    BatchSagaHarness _bus = null!;

    [SetUp]
    public async Task Start() => _bus = await BatchSagaHarness.Start();

    [TearDown]
    public Task Stop() => _bus.DisposeAsync().AsTask();

    [Test]
    public async Task Should_count_the_task_once()
    {
        var batchId = await _bus.SubmitBatch(total: 2);
        var completed = new TaskCompleted(Guid.NewGuid(), batchId, "user-1", 0, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow);

        await _bus.Deliver(completed);
        await _bus.Deliver(completed);

        // Counted twice, 2 of 2 would be terminal and the batch would have finished with one task still out.
        var saga = await _bus.InState(batchId, m => m.Running);
        Assert.Multiple(() =>
        {
            Assert.That(saga.Completed, Is.EqualTo(1));
            Assert.That(saga.Terminal, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Should_publish_neither_progress_nor_finish_for_the_duplicate()
    {
        var batchId = await _bus.SubmitBatch(total: 2);
        var completed = new TaskCompleted(Guid.NewGuid(), batchId, "user-1", 0, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow);

        await _bus.Deliver(completed);
        await _bus.Deliver(completed);

        var progress = await _bus.PublishedFor<BatchProgressed>(batchId, m => m.BatchId);
        var finished = await _bus.PublishedFor<BatchFinished>(batchId, m => m.BatchId);
        Assert.Multiple(() =>
        {
            Assert.That(progress.Select(p => p.Completed), Is.EqualTo(new[] { 1 }));
            Assert.That(finished, Is.Empty);
        });
    }

    [Test]
    public async Task Should_count_a_failure_reported_after_a_completion_of_the_same_task_once()
    {
        var batchId = await _bus.SubmitBatch(total: 2);
        var taskId = Guid.NewGuid();

        // A worker that lost its lease reports a failure for a task another attempt already completed.
        await _bus.Deliver(new TaskCompleted(taskId, batchId, "user-1", 0, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow));
        await _bus.Deliver(new TaskFailed(taskId, batchId, "user-1", 0, "lease lost", 1, DateTimeOffset.UtcNow));

        var saga = await _bus.InState(batchId, m => m.Running);
        Assert.Multiple(() =>
        {
            Assert.That(saga.Completed, Is.EqualTo(1));
            Assert.That(saga.Failed, Is.Zero);
        });
    }

    [Test]
    public async Task Should_change_nothing_when_the_duplicate_arrives_after_the_batch_finished()
    {
        var batchId = await _bus.SubmitBatch(total: 1);
        var completed = new TaskCompleted(Guid.NewGuid(), batchId, "user-1", 0, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow);
        await _bus.Deliver(completed);
        var finishedAt = (await _bus.InState(batchId, m => m.Completed)).FinishedAt;

        await _bus.Deliver(completed);

        var saga = await _bus.InState(batchId, m => m.Completed);
        var finished = await _bus.PublishedFor<BatchFinished>(batchId, m => m.BatchId);
        Assert.Multiple(() =>
        {
            Assert.That(saga.Completed, Is.EqualTo(1));
            Assert.That(saga.FinishedAt, Is.EqualTo(finishedAt));
            Assert.That(finished, Has.Count.EqualTo(1));
        });
    }
}
