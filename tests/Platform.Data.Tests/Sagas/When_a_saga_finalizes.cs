using MassTransit;
using Platform.Data.Sagas;
using Platform.Testing;

namespace Platform.Data.Tests.Sagas;

/// <summary>The repository's Delete and Discard, which the batch state machine never reaches (it keeps finished batches).</summary>
[TestFixture]
public sealed class When_a_saga_finalizes
{
    SagaHarness _harness = null!;

    [OneTimeSetUp]
    public async Task Start() =>
        _harness = await SagaHarness.Start(nameof(When_a_saga_finalizes),
            x => x.AddSagaStateMachine<CounterStateMachine, BatchState>(typeof(UnpartitionedBatchStateDefinition)).EfCoreRepository());

    [OneTimeTearDown]
    public ValueTask Stop() => _harness.DisposeAsync();

    [Test]
    public async Task Should_delete_the_row_of_an_existing_instance()
    {
        var id = Guid.NewGuid();
        await _harness.Publish(new CounterIncremented(id));
        await _harness.SagaWhen(id, s => s.Completed == 1, "the instance to be inserted");

        await _harness.Publish(new CounterClosed(id));

        Assert.That(await Poll.Until(() => _harness.Saga(id), s => s is null, TimeSpan.FromSeconds(10), "the row to be deleted",
            TimeSpan.FromMilliseconds(20)), Is.Null);
    }

    [Test]
    public async Task Should_never_write_an_instance_that_finalizes_on_its_first_event()
    {
        var id = Guid.NewGuid();

        await _harness.Publish(new CounterClosed(id));
        await _harness.AllSettled();

        Assert.Multiple(async () =>
        {
            Assert.That(await _harness.Saga(id), Is.Null, "a new instance completed by its first event is discarded, not saved");
            Assert.That(_harness.FaultCount<CounterClosed>(), Is.Zero);
        });
    }
}
