using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Platform.Contracts;
using Platform.Data.Model;
using Platform.Data.Sagas;
using Platform.Orchestrator.StateMachines;

namespace Platform.Data.Tests.Sagas;

/// <summary>Insert, load and update through the repository, with the production definition (partitioner included) and ledger.</summary>
[TestFixture]
public sealed class When_the_batch_saga_moves_through_its_lifecycle
{
    SagaHarness _harness = null!;

    [OneTimeSetUp]
    public async Task Start() =>
        _harness = await SagaHarness.Start(nameof(When_the_batch_saga_moves_through_its_lifecycle),
            x => x.AddSagaStateMachine<BatchStateMachine, BatchState>(typeof(BatchStateDefinition)).EfCoreRepository(),
            s => s.AddScoped<ITaskLedger, TaskRowLedger>());

    [OneTimeTearDown]
    public ValueTask Stop() => _harness.DisposeAsync();

    [Test]
    public async Task Should_insert_the_instance_on_the_first_event()
    {
        var batchId = Guid.NewGuid();
        // PostgreSQL keeps microseconds: a timestamp it can store exactly round-trips equal.
        var submittedAt = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

        await _harness.Publish(new BatchSubmitted(batchId, "user-1", "insert", 3, submittedAt));

        var saga = await _harness.SagaWhen(batchId, _ => true, "the saga row to be inserted");
        Assert.Multiple(() =>
        {
            Assert.That(saga.CurrentState, Is.EqualTo("Queued"));
            Assert.That(saga.UserId, Is.EqualTo("user-1"));
            Assert.That(saga.Total, Is.EqualTo(3));
            Assert.That(saga.SubmittedAt, Is.EqualTo(submittedAt));
            Assert.That(saga.StartedAt, Is.Null);
            Assert.That(saga.Terminal, Is.Zero);
        });
    }

    [Test]
    public async Task Should_load_and_update_the_instance_on_later_events()
    {
        var batchId = Guid.NewGuid();
        var tasks = await _harness.SeedTasks(batchId, TaskStatuses.Completed, TaskStatuses.Queued);
        await _harness.Publish(new BatchSubmitted(batchId, "user-1", "update", tasks.Length, DateTimeOffset.UtcNow));
        await _harness.SagaWhen(batchId, s => s.CurrentState == "Queued", "the saga to be queued");

        await _harness.Publish(new TaskStarted(tasks[0], batchId, "user-1", 0, 1, DateTimeOffset.UtcNow));
        var started = await _harness.SagaWhen(batchId, s => s.CurrentState == "Running", "the saga to be running");
        await _harness.Publish(new TaskCompleted(tasks[0], batchId, "user-1", 0, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow));
        var progressed = await _harness.SagaWhen(batchId, s => s.Completed == 1, "the first task to be counted");

        Assert.Multiple(() =>
        {
            Assert.That(started.StartedAt, Is.Not.Null);
            Assert.That(progressed.CurrentState, Is.EqualTo("Running"), "one of two tasks is terminal");
            Assert.That(progressed.StartedAt, Is.EqualTo(started.StartedAt), "the loaded instance kept what the earlier event wrote");
            Assert.That(progressed.Total, Is.EqualTo(2));
            Assert.That(progressed.FinishedAt, Is.Null);
        });
    }

    [Test]
    public async Task Should_keep_the_instance_once_the_batch_has_finished()
    {
        var batchId = Guid.NewGuid();
        var tasks = await _harness.SeedTasks(batchId, TaskStatuses.Completed, TaskStatuses.Failed);
        await _harness.Publish(new BatchSubmitted(batchId, "user-1", "finish", tasks.Length, DateTimeOffset.UtcNow));
        await _harness.SagaWhen(batchId, s => s.CurrentState == "Queued", "the saga to be queued");

        await _harness.Publish(new TaskCompleted(tasks[0], batchId, "user-1", 0, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow));
        await _harness.Publish(new TaskFailed(tasks[1], batchId, "user-1", 1, "boom", 3, DateTimeOffset.UtcNow));
        // Settled, not just the row: BatchFinished leaves the outbox only after the transaction has committed.
        await _harness.AllSettled();

        // The state machine never finalizes a batch: the API reads its counters from this row after the end too.
        var saga = (await _harness.Saga(batchId))!;
        Assert.Multiple(() =>
        {
            Assert.That(saga.CurrentState, Is.EqualTo("CompletedWithFailures"));
            Assert.That((saga.Completed, saga.Failed, saga.Cancelled), Is.EqualTo((1, 1, 0)));
            Assert.That(_harness.PublishedCount<BatchFinished>(m => m.BatchId == batchId), Is.EqualTo(1));
        });
    }
}
