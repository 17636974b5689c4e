using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Platform.Contracts;
using Platform.Data.Model;
using Platform.Data.Sagas;
using Platform.Orchestrator.StateMachines;

namespace Platform.Data.Tests.Sagas;

/// <summary>
/// The repository does no de-duplication of its own (no inbox): a redelivered event is made harmless by the state
/// machine (ignored transitions) and the task ledger, which only works because the ledger's "counted" flag and the saga's
/// counters commit in the repository's one transaction. These tests pin both halves.
/// </summary>
[TestFixture]
public sealed class When_a_batch_event_is_delivered_again
{
    SagaHarness _harness = null!;
    readonly CrashAfterCounting _crash = new();

    [OneTimeSetUp]
    public async Task Start() =>
        _harness = await SagaHarness.Start(nameof(When_a_batch_event_is_delivered_again),
            x => x.AddSagaStateMachine<BatchStateMachine, BatchState>(typeof(BatchStateDefinition)).EfCoreRepository(),
            s => s.AddSingleton(_crash).AddScoped<TaskRowLedger>().AddScoped<ITaskLedger, CrashingLedger>());

    [OneTimeTearDown]
    public ValueTask Stop() => _harness.DisposeAsync();

    [Test]
    public async Task Should_count_a_task_once()
    {
        var (batchId, tasks) = await SubmitBatch(2);
        var completed = new TaskCompleted(tasks[0], batchId, "user-1", 0, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow);
        var messageId = NewId.NextGuid();

        await _harness.Publish(completed, messageId);
        await _harness.Publish(completed, messageId);
        await _harness.AllSettled();

        var saga = await _harness.Saga(batchId);
        Assert.Multiple(() =>
        {
            Assert.That(saga!.Completed, Is.EqualTo(1));
            Assert.That(saga.CurrentState, Is.EqualTo("Running"));
            Assert.That(_harness.PublishedCount<BatchProgressed>(m => m.BatchId == batchId), Is.EqualTo(1), "progress reported once");
        });
    }

    [Test]
    public async Task Should_count_a_task_once_when_the_first_attempt_failed_after_counting()
    {
        var (batchId, tasks) = await SubmitBatch(2);
        _crash.Arm();

        await _harness.Publish(new TaskCompleted(tasks[0], batchId, "user-1", 0, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow));
        await _harness.AllSettled();

        // Had the first attempt's ledger update survived its rollback, the retry would find the task counted and the counter stay 0.
        var saga = (await _harness.Saga(batchId))!;
        Assert.Multiple(async () =>
        {
            Assert.That(_crash.Crashes, Is.EqualTo(1), "the first attempt crashed after the ledger had marked the task");
            Assert.That(saga.Completed, Is.EqualTo(1));
            Assert.That(await _harness.Scalar<bool>("SELECT counted FROM tasks WHERE task_id = $1", tasks[0]), Is.True);
            Assert.That(_harness.PublishedCount<BatchProgressed>(m => m.BatchId == batchId), Is.EqualTo(1),
                "progress reported once, by the attempt that committed");
            Assert.That(_harness.FaultCount<TaskCompleted>(), Is.Zero);
        });
    }

    [Test]
    public async Task Should_not_reset_a_running_batch_on_a_redelivered_submission()
    {
        var batchId = Guid.NewGuid();
        var submitted = new BatchSubmitted(batchId, "user-1", "again", 2, DateTimeOffset.UtcNow);
        var messageId = NewId.NextGuid();
        await _harness.Publish(submitted, messageId);
        await _harness.SagaWhen(batchId, s => s.CurrentState == "Queued", "the saga to be queued");
        await _harness.Publish(new TaskStarted(Guid.NewGuid(), batchId, "user-1", 0, 1, DateTimeOffset.UtcNow));
        var running = await _harness.SagaWhen(batchId, s => s.CurrentState == "Running", "the saga to be running");

        await _harness.Publish(submitted, messageId);
        await _harness.AllSettled();

        var saga = await _harness.Saga(batchId);
        Assert.Multiple(() =>
        {
            Assert.That(saga!.CurrentState, Is.EqualTo("Running"));
            Assert.That(saga.StartedAt, Is.EqualTo(running.StartedAt));
            Assert.That(saga.UpdatedAt, Is.EqualTo(running.UpdatedAt), "nothing was written");
            Assert.That(_harness.FaultCount<BatchSubmitted>(), Is.Zero);
        });
    }

    async Task<(Guid BatchId, Guid[] Tasks)> SubmitBatch(int size)
    {
        var batchId = Guid.NewGuid();
        // One task ended, the others still queued: the saga counts a batch's ended tasks, not the event's task.
        var tasks = await _harness.SeedTasks(batchId, [TaskStatuses.Completed, .. Enumerable.Repeat(TaskStatuses.Queued, size - 1)]);
        await _harness.Publish(new BatchSubmitted(batchId, "user-1", "twice", size, DateTimeOffset.UtcNow));
        await _harness.SagaWhen(batchId, s => s.CurrentState == "Queued", "the saga to be queued");
        return (batchId, tasks);
    }
}

/// <summary>A process dying between the ledger's update and the commit, once, when armed.</summary>
public sealed class CrashAfterCounting
{
    int _armed;
    int _crashes;

    public int Crashes => Volatile.Read(ref _crashes);

    public void Arm() => Volatile.Write(ref _armed, 1);

    public void AfterCounting()
    {
        if (Interlocked.Exchange(ref _armed, 0) == 1)
        {
            Interlocked.Increment(ref _crashes);
            throw new InvalidOperationException("Simulated crash after the ledger counted the task.");
        }
    }
}

public sealed class CrashingLedger(TaskRowLedger ledger, CrashAfterCounting crash) : ITaskLedger
{
    public async Task<EndedTasks> CountBatch(Guid batchId, CancellationToken cancellationToken)
    {
        var ended = await ledger.CountBatch(batchId, cancellationToken);
        crash.AfterCounting();
        return ended;
    }
}
