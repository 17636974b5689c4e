using Platform.Contracts;
using Platform.Data.Model;

namespace Platform.Orchestrator.Tests.StateMachines;

[TestFixture]
public sealed class When_a_task_row_disagrees_with_its_event
{
    BatchSagaHarness _bus = null!;

    [SetUp]
    public async Task Start() => _bus = await BatchSagaHarness.Start();

    [TearDown]
    public Task Stop() => _bus.DisposeAsync().AsTask();

    [Test]
    public async Task Should_count_the_status_the_row_ended_in()
    {
        var batchId = await _bus.SubmitBatch(total: 1);
        var taskId = Guid.NewGuid();

        // The user cancelled while the worker finished: the row says cancelled, the late event says completed.
        _bus.Ledger.SetStatus(taskId, batchId, TaskStatuses.Cancelled);
        await _bus.Deliver(new TaskCompleted(taskId, batchId, "user-1", 0, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow));

        var saga = await _bus.InState(batchId, m => m.Cancelled);
        Assert.Multiple(() =>
        {
            Assert.That(saga.Cancelled, Is.EqualTo(1));
            Assert.That(saga.Completed, Is.Zero);
        });
    }

    [Test]
    public async Task Should_not_count_a_task_whose_row_is_not_terminal()
    {
        var batchId = await _bus.SubmitBatch(total: 2);
        var taskId = Guid.NewGuid();
        await _bus.Deliver(new TaskStarted(taskId, batchId, "user-1", 0, 1, DateTimeOffset.UtcNow));

        // A failure report for an attempt that has since been retried: the row is running again.
        _bus.Ledger.SetStatus(taskId, batchId, TaskStatuses.Running);
        await _bus.Deliver(new TaskFailed(taskId, batchId, "user-1", 0, "timeout", 1, DateTimeOffset.UtcNow));

        var saga = await _bus.InState(batchId, m => m.Running);
        Assert.That(saga.Terminal, Is.Zero);
    }
}
