using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Platform.Data.Sagas;
using Platform.Testing;

namespace Platform.Data.Tests.Sagas;

/// <summary>
/// Read-modify-write of one row by many events at once, with no partitioner: only the repository's
/// <c>SELECT … FOR UPDATE</c> keeps two transactions from both reading the same counter and one write erasing the other.
/// </summary>
[TestFixture]
public sealed class When_events_for_one_saga_arrive_at_once
{
    const int Events = 150;

    // How long the holder keeps the row after the second event is seen waiting: long enough to measure, short for the suite.
    static readonly TimeSpan HoldFor = TimeSpan.FromMilliseconds(250);

    const string WaitingOnTheRowLock = """
        SELECT count(*) FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE%'
        """;

    readonly RowHolder _holder = new();
    SagaHarness _harness = null!;

    [OneTimeSetUp]
    public async Task Start() =>
        _harness = await SagaHarness.Start(nameof(When_events_for_one_saga_arrive_at_once),
            x => x.AddSagaStateMachine<CounterStateMachine, BatchState>(typeof(UnpartitionedBatchStateDefinition)).EfCoreRepository(),
            s => s.AddSingleton(_holder));

    [OneTimeTearDown]
    public ValueTask Stop() => _harness.DisposeAsync();

    [Test]
    public async Task Should_apply_every_event()
    {
        var id = Guid.NewGuid();
        await _harness.Publish(new CounterIncremented(id));
        await _harness.SagaWhen(id, s => s.Completed == 1, "the instance to be inserted");
        _harness.Deliveries.ResetMaxInFlight();
        var watch = Stopwatch.StartNew();

        await Task.WhenAll(Enumerable.Range(0, Events).Select(_ => _harness.Publish(new CounterIncremented(id))));
        await _harness.AllSettled();

        var saga = (await _harness.Saga(id))!;
        TestContext.Out.WriteLine($"{Events} events in {watch.ElapsedMilliseconds} ms, at most {_harness.Deliveries.MaxInFlight} in flight");
        Assert.Multiple(() =>
        {
            Assert.That(_harness.Deliveries.MaxInFlight, Is.GreaterThan(1), "the events really ran side by side");
            Assert.That(saga.Completed, Is.EqualTo(Events + 1), "no update was lost");
            Assert.That(_harness.FaultCount<CounterIncremented>(), Is.Zero);
        });
    }

    [Test]
    public async Task Should_block_a_second_load_until_the_first_transaction_commits()
    {
        var id = Guid.NewGuid();
        await _harness.Publish(new CounterIncremented(id));
        await _harness.SagaWhen(id, s => s.Completed == 1, "the instance to be inserted");

        try
        {
            await _harness.Publish(new CounterHeld(id));
            await _holder.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));

            var secondPublishedAt = DateTimeOffset.UtcNow;
            await _harness.Publish(new CounterIncremented(id));
            // Seen at the database: the second event waits on the repository's FOR UPDATE, it is not merely slow.
            await Poll.Until(() => _harness.Scalar<long>(WaitingOnTheRowLock), n => n > 0, TimeSpan.FromSeconds(5),
                "the second load to wait on the row lock", TimeSpan.FromMilliseconds(10));
            // Not a wait for something to happen: holding the lock a known time is what makes the block measurable.
            await Task.Delay(HoldFor);
            _holder.Release.SetResult();
            await _harness.AllSettled();

            var saga = (await _harness.Saga(id))!;
            var blocked = saga.UpdatedAt - secondPublishedAt;
            var afterCommit = saga.UpdatedAt - saga.FinishedAt!.Value;
            TestContext.Out.WriteLine($"second load blocked {blocked.TotalMilliseconds:F0} ms; it ran {afterCommit.TotalMilliseconds:F1} ms after the holder let go");
            Assert.Multiple(() =>
            {
                Assert.That(saga.UpdatedAt, Is.GreaterThan(saga.FinishedAt), "the second event ran only after the holder let go of the row");
                Assert.That(blocked, Is.GreaterThanOrEqualTo(HoldFor));
                Assert.That(saga.Completed, Is.EqualTo(3), "and it read the holder's increment, not the value before it");
            });
        }
        finally
        {
            _holder.Release.TrySetResult();
        }
    }
}
