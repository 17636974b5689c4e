using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Platform.Data.Sagas;

namespace Platform.Data.Tests.Sagas;

/// <summary>
/// Before the row exists there is nothing to lock: every first event loads nothing and inserts. The primary key lets one
/// insert win; each loser's insert fails, its transaction rolls back, and the endpoint's retry loads (and locks) the
/// winner's row and applies the event there.
/// </summary>
[TestFixture]
public sealed class When_first_events_race_to_create_one_saga
{
    const int Events = 60;

    // Events that certainly load "no instance" before any of them inserts; the rest race on their own timing.
    const int Racers = 8;

    SagaHarness _harness = null!;

    [OneTimeSetUp]
    public async Task Start() =>
        _harness = await SagaHarness.Start(nameof(When_first_events_race_to_create_one_saga),
            x => x.AddSagaStateMachine<CounterStateMachine, BatchState>(typeof(UnpartitionedBatchStateDefinition)).EfCoreRepository(),
            s => s.AddSingleton(new FirstEventBarrier(Racers)));

    [OneTimeTearDown]
    public ValueTask Stop() => _harness.DisposeAsync();

    [Test]
    public async Task Should_create_one_instance_and_apply_every_event()
    {
        var id = Guid.NewGuid();

        await Task.WhenAll(Enumerable.Range(0, Events).Select(_ => _harness.Publish(new CounterIncremented(id))));
        await _harness.AllSettled();

        var saga = (await _harness.Saga(id))!;
        TestContext.Out.WriteLine($"{saga.Failed} of {Events} events lost the race to insert and applied on a retry; at most {_harness.Deliveries.MaxInFlight} in flight, {_harness.Deliveries.ConsumedOnRetry} consumed on a retry");
        Assert.Multiple(() =>
        {
            Assert.That(saga.Failed, Is.GreaterThanOrEqualTo(Racers - 1), "all racers but the winner lost the insert and were redelivered");
            Assert.That(saga.Completed, Is.EqualTo(Events), "every event applied, the losers' included");
            Assert.That(saga.CurrentState, Is.EqualTo("Counting"));
            Assert.That(_harness.FaultCount<CounterIncremented>(), Is.Zero, "no duplicate key reached the caller");
        });
    }
}
