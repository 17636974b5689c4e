using Platform.Contracts;

namespace Platform.Orchestrator.Tests.StateMachines;

[TestFixture]
public sealed class When_a_batch_is_submitted
{
    BatchSagaHarness _bus = null!;

    [SetUp]
    public async Task Start() => _bus = await BatchSagaHarness.Start();

    [TearDown]
    public Task Stop() => _bus.DisposeAsync().AsTask();

    [Test]
    public async Task Should_be_queued_with_its_total()
    {
        var batchId = await _bus.SubmitBatch(total: 3, userId: "user-7");

        var saga = await _bus.InState(batchId, m => m.Queued);

        Assert.Multiple(() =>
        {
            Assert.That(saga.UserId, Is.EqualTo("user-7"));
            Assert.That(saga.Total, Is.EqualTo(3));
            Assert.That(saga.Terminal, Is.Zero);
            Assert.That(saga.StartedAt, Is.Null, "nothing has started yet");
        });
    }

    [Test]
    public async Task Should_be_running_once_its_first_task_starts()
    {
        var batchId = await _bus.SubmitBatch(total: 3);
        await _bus.InState(batchId, m => m.Queued);

        await _bus.Deliver(new TaskStarted(Guid.NewGuid(), batchId, "user-1", Slot: 0, Attempt: 1, DateTimeOffset.UtcNow));

        var saga = await _bus.InState(batchId, m => m.Running);
        Assert.That(saga.StartedAt, Is.Not.Null);
    }

    [Test]
    public async Task Should_ignore_a_redelivered_submission()
    {
        var batchId = await _bus.SubmitBatch(total: 3);
        await _bus.Deliver(new TaskStarted(Guid.NewGuid(), batchId, "user-1", 0, 1, DateTimeOffset.UtcNow));

        // The same batch id again (an outbox row published twice): neither the state nor the total may move.
        await _bus.Deliver(new BatchSubmitted(batchId, "user-1", "companies", 99, DateTimeOffset.UtcNow));

        var saga = await _bus.InState(batchId, m => m.Running);
        Assert.That(saga.Total, Is.EqualTo(3));
    }
}
