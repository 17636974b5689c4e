using MassTransit;
using Platform.Data.Sagas;

namespace Platform.Data.Tests.Sagas;

/// <summary>MassTransit asks the repository to Undo after a read-only event: the row must stay as it was.</summary>
[TestFixture]
public sealed class When_a_read_only_event_changes_the_saga
{
    SagaHarness _harness = null!;

    [OneTimeSetUp]
    public async Task Start() =>
        _harness = await SagaHarness.Start(nameof(When_a_read_only_event_changes_the_saga),
            x => x.AddSagaStateMachine<CounterStateMachine, BatchState>(typeof(UnpartitionedBatchStateDefinition)).EfCoreRepository());

    [OneTimeTearDown]
    public ValueTask Stop() => _harness.DisposeAsync();

    [Test]
    public async Task Should_not_save_the_change()
    {
        var id = Guid.NewGuid();
        await _harness.Publish(new CounterIncremented(id));
        var before = await _harness.SagaWhen(id, s => s.Completed == 1, "the instance to be inserted");

        await _harness.Publish(new CounterPeeked(id));
        await _harness.AllSettled();

        var after = (await _harness.Saga(id))!;
        Assert.Multiple(() =>
        {
            Assert.That(after.Completed, Is.EqualTo(before.Completed));
            Assert.That(after.UpdatedAt, Is.EqualTo(before.UpdatedAt));
            Assert.That(_harness.FaultCount<CounterPeeked>(), Is.Zero, "the event was consumed, not refused");
        });
    }
}
