using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Platform.Contracts;
using Platform.Data.Model;
using Platform.Data.Sagas;
using Platform.Orchestrator.StateMachines;

namespace Platform.Data.Tests.Sagas;

/// <summary>
/// The batch state machine and its ledger on the repository, partitioner off: the submission (eight copies), and every
/// terminal task event twice, all published at once.
/// </summary>
[TestFixture]
public sealed class When_many_task_events_for_one_batch_arrive_at_once
{
    const int Completed = 90;
    const int Failed = 10;
    const int Submissions = 8;

    SagaHarness _harness = null!;
    Guid _batchId;
    BatchState _saga = null!;

    [OneTimeSetUp]
    public async Task Run()
    {
        _harness = await SagaHarness.Start(nameof(When_many_task_events_for_one_batch_arrive_at_once),
            x => x.AddSagaStateMachine<BatchStateMachine, BatchState>(typeof(UnpartitionedBatchStateDefinition)).EfCoreRepository(),
            s => s.AddScoped<ITaskLedger, TaskRowLedger>());
        _batchId = Guid.NewGuid();
        var tasks = await _harness.SeedTasks(_batchId,
            [.. Enumerable.Repeat(TaskStatuses.Completed, Completed), .. Enumerable.Repeat(TaskStatuses.Failed, Failed)]);

        var submitted = new BatchSubmitted(_batchId, "user-1", "burst", tasks.Length, DateTimeOffset.UtcNow);
        var terminal = tasks.Select<Guid, object>((taskId, i) => i < Completed
                ? new TaskCompleted(taskId, _batchId, "user-1", i % 10, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow)
                : new TaskFailed(taskId, _batchId, "user-1", i % 10, "boom", 3, DateTimeOffset.UtcNow))
            .ToList();
        var publishes = Enumerable.Range(0, Submissions).Select(_ => _harness.Publish(submitted))
            .Concat(terminal.Concat(terminal).Select(message => message switch
            {
                TaskCompleted m => _harness.Publish(m),
                TaskFailed m => _harness.Publish(m),
                _ => throw new InvalidOperationException(),
            }));
        await Task.WhenAll(publishes);
        await _harness.AllSettled();

        _saga = (await _harness.Saga(_batchId))!;
    }

    [OneTimeTearDown]
    public ValueTask Stop() => _harness.DisposeAsync();

    [Test]
    public void Should_really_run_the_events_side_by_side()
    {
        TestContext.Out.WriteLine($"{Submissions + 2 * (Completed + Failed)} deliveries, at most {_harness.Deliveries.MaxInFlight} in flight, "
            + $"{_harness.Deliveries.ConsumedOnRetry} consumed only on a retry");
        // Whether a submission loses the insert or a task event overtakes it here depends on timing (often neither):
        // When_first_events_race_to_create_one_saga forces that race. Events meeting on the existing row is certain.
        Assert.That(_harness.Deliveries.MaxInFlight, Is.GreaterThan(1));
    }

    [Test]
    public async Task Should_count_every_task_exactly_once()
    {
        var counted = await _harness.Scalar<long>("SELECT count(*) FROM tasks WHERE batch_id = $1 AND counted", _batchId);
        Assert.Multiple(() =>
        {
            Assert.That((_saga.Completed, _saga.Failed, _saga.Cancelled), Is.EqualTo((Completed, Failed, 0)));
            Assert.That(counted, Is.EqualTo(Completed + Failed));
        });
    }

    [Test]
    public void Should_finish_the_batch_once() =>
        Assert.Multiple(() =>
        {
            Assert.That(_saga.CurrentState, Is.EqualTo("CompletedWithFailures"));
            Assert.That(_saga.Total, Is.EqualTo(Completed + Failed), "the duplicated submissions changed nothing");
            Assert.That(_harness.PublishedCount<BatchFinished>(m => m.BatchId == _batchId), Is.EqualTo(1));
            // One progress per event that counted something: the first event counts every ended row, later ones nothing new.
            Assert.That(_harness.PublishedCount<BatchProgressed>(m => m.BatchId == _batchId), Is.InRange(1, Completed + Failed));
            Assert.That(_harness.PublishedCount<BatchProgressed>(m => m.BatchId == _batchId && m.Completed + m.Failed == Completed + Failed),
                Is.EqualTo(1), "the end reported once");
        });

    [Test]
    public void Should_let_no_fault_reach_the_caller() =>
        Assert.Multiple(() =>
        {
            Assert.That(_harness.FaultCount<BatchSubmitted>(), Is.Zero);
            Assert.That(_harness.FaultCount<TaskCompleted>(), Is.Zero);
            Assert.That(_harness.FaultCount<TaskFailed>(), Is.Zero);
        });
}
