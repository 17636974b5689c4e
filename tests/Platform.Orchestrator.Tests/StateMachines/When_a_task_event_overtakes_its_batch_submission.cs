using MassTransit;
using Platform.Contracts;
using Platform.Data.Model;
using Platform.Testing;

namespace Platform.Orchestrator.Tests.StateMachines;

[TestFixture]
public sealed class When_a_task_event_overtakes_its_batch_submission
{
    BatchSagaHarness _bus = null!;

    [SetUp]
    public async Task Start() => _bus = await BatchSagaHarness.Start();

    [TearDown]
    public Task Stop() => _bus.DisposeAsync().AsTask();

    [Test]
    public async Task Should_count_the_task_once_the_batch_exists()
    {
        var batchId = NewId.NextGuid();
        var taskId = Guid.NewGuid();
        _bus.Ledger.SetStatus(taskId, batchId, TaskStatuses.Completed);

        // Published before the saga exists: the definition's retry must hold it until BatchSubmitted creates the saga.
        await _bus.Harness.Bus.Publish(new TaskCompleted(taskId, batchId, "user-1", 0, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow));
        await _bus.Deliver(new BatchSubmitted(batchId, "user-1", "companies", 2, DateTimeOffset.UtcNow));

        var completed = await Poll.Until(() => Task.FromResult(_bus.Saga.Sagas.Contains(batchId)?.Completed ?? 0), c => c > 0,
            TimeSpan.FromSeconds(10), "the early TaskCompleted to be counted", TimeSpan.FromMilliseconds(20));
        var saga = await _bus.InState(batchId, m => m.Running);
        Assert.Multiple(() =>
        {
            Assert.That(completed, Is.EqualTo(1));
            Assert.That(saga.Total, Is.EqualTo(2));
        });
    }
}
