using Platform.Contracts;
using Platform.Data.Model;

namespace Platform.Orchestrator.Tests.StateMachines;

/// <summary>
/// The saga counts from the task rows per batch: a coalesced <see cref="BatchTasksEnded"/> (or a cancellation request)
/// counts every task of the batch that ended since the last count, once, however many events say so.
/// </summary>
[TestFixture]
public sealed class When_tasks_of_a_batch_end_without_an_event_each
{
    BatchSagaHarness _bus = null!;

    [SetUp]
    public async Task Start() => _bus = await BatchSagaHarness.Start();

    [TearDown]
    public Task Stop() => _bus.DisposeAsync().AsTask();

    [Test]
    public async Task Should_count_every_ended_task_once_on_one_notification()
    {
        var batchId = await _bus.SubmitBatch(total: 10);
        End(batchId, 6, TaskStatuses.Completed);
        End(batchId, 2, TaskStatuses.Failed);

        await _bus.Deliver(new BatchTasksEnded(batchId, "user-1", DateTimeOffset.UtcNow));

        var saga = await _bus.InState(batchId, m => m.Running);
        var progress = await _bus.PublishedFor<BatchProgressed>(batchId, m => m.BatchId);
        Assert.Multiple(() =>
        {
            Assert.That((saga.Completed, saga.Failed, saga.Cancelled), Is.EqualTo((6, 2, 0)));
            Assert.That(progress.Select(p => (p.Status, p.Completed, p.Failed)), Is.EqualTo(new[] { (BatchStatuses.Running, 6, 2) }));
        });
    }

    [Test]
    public async Task Should_count_nothing_and_announce_nothing_for_a_duplicate()
    {
        var batchId = await _bus.SubmitBatch(total: 10);
        var tasks = End(batchId, 4, TaskStatuses.Completed);
        var ended = new BatchTasksEnded(batchId, "user-1", DateTimeOffset.UtcNow);

        await _bus.Deliver(ended);
        await _bus.Deliver(ended);
        // A per-task event for a task the notification already counted (a worker before the coalescing change).
        await _bus.Deliver(new TaskCompleted(tasks[0], batchId, "user-1", 0, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow));

        var saga = await _bus.InState(batchId, m => m.Running);
        var progress = await _bus.PublishedFor<BatchProgressed>(batchId, m => m.BatchId);
        Assert.Multiple(() =>
        {
            Assert.That(_bus.Ledger.Counts, Is.EqualTo(3), "each delivery looked at the rows");
            Assert.That(saga.Completed, Is.EqualTo(4));
            Assert.That(progress.Select(p => p.Completed), Is.EqualTo(new[] { 4 }), "one progress, for the delivery that counted");
        });
    }

    [Test]
    public async Task Should_count_only_what_ended_since_the_last_count()
    {
        var batchId = await _bus.SubmitBatch(total: 5);
        End(batchId, 2, TaskStatuses.Completed);
        await _bus.Deliver(new BatchTasksEnded(batchId, "user-1", DateTimeOffset.UtcNow));
        End(batchId, 3, TaskStatuses.Completed);

        await _bus.Deliver(new BatchTasksEnded(batchId, "user-1", DateTimeOffset.UtcNow));

        var saga = await _bus.InState(batchId, m => m.Completed);
        var finished = await _bus.PublishedFor<BatchFinished>(batchId, m => m.BatchId);
        var progress = await _bus.PublishedFor<BatchProgressed>(batchId, m => m.BatchId);
        Assert.Multiple(() =>
        {
            Assert.That(saga.Completed, Is.EqualTo(5));
            Assert.That(progress.Select(p => (p.Status, p.Completed)),
                Is.EqualTo(new[] { (BatchStatuses.Running, 2), (BatchStatuses.Completed, 5) }));
            Assert.That(finished.Select(f => (f.Status, f.Completed)), Is.EqualTo(new[] { (BatchStatuses.Completed, 5) }));
        });
    }

    [Test]
    public async Task Should_count_the_queued_tasks_a_cancellation_ended_on_its_request()
    {
        var batchId = await _bus.SubmitBatch(total: 1000);
        End(batchId, 10, TaskStatuses.Completed);
        await _bus.Deliver(new BatchTasksEnded(batchId, "user-1", DateTimeOffset.UtcNow));
        // The cancellation ends the 990 queued tasks in their rows and sends no event per task.
        End(batchId, 990, TaskStatuses.Cancelled);

        await _bus.Deliver(new BatchCancellationRequested(batchId, "user-1", DateTimeOffset.UtcNow));

        var saga = await _bus.InState(batchId, m => m.Cancelled);
        var finished = await _bus.PublishedFor<BatchFinished>(batchId, m => m.BatchId);
        Assert.Multiple(() =>
        {
            Assert.That((saga.Completed, saga.Cancelled), Is.EqualTo((10, 990)));
            Assert.That(finished.Select(f => (f.Status, f.Cancelled)), Is.EqualTo(new[] { (BatchStatuses.Cancelled, 990) }));
        });
    }

    [Test]
    public async Task Should_stay_queued_when_nothing_has_ended()
    {
        var batchId = await _bus.SubmitBatch(total: 3);
        _bus.Ledger.SetStatus(Guid.NewGuid(), batchId, TaskStatuses.Running);

        await _bus.Deliver(new BatchTasksEnded(batchId, "user-1", DateTimeOffset.UtcNow));

        var saga = await _bus.InState(batchId, m => m.Queued);
        var progress = await _bus.PublishedFor<BatchProgressed>(batchId, m => m.BatchId);
        Assert.Multiple(() =>
        {
            Assert.That(saga.Terminal, Is.Zero);
            Assert.That(progress, Is.Empty);
        });
    }

    /// <summary>Ends tasks in their rows only, as a worker or a cancellation writes them; no event is published.</summary>
    Guid[] End(Guid batchId, int tasks, string status)
    {
        var ids = Enumerable.Range(0, tasks).Select(_ => Guid.NewGuid()).ToArray();
        foreach (var taskId in ids)
            _bus.Ledger.SetStatus(taskId, batchId, status);
        return ids;
    }
}
