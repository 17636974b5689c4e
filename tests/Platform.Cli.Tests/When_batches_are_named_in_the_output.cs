using Platform.Cli.Watching;

namespace Platform.Cli.Tests;

public sealed class When_batches_are_named_in_the_output
{
    [Test]
    public void Should_tell_apart_batches_submitted_in_the_same_minute()
    {
        // Batch ids are UUIDv7: their first 8 characters are the top of a timestamp, the same for a minute.
        var ids = Enumerable.Range(0, 50).Select(_ => Guid.CreateVersion7().ToString()).ToList();
        Assert.Multiple(() =>
        {
            // Two when the 65-second boundary of that prefix falls between them.
            Assert.That(ids.Select(id => id[..8]).Distinct().Count(), Is.LessThanOrEqualTo(2), "the premise: one prefix for all");
            Assert.That(ids.Select(PlainObserver.Short).Distinct().Count(), Is.EqualTo(ids.Count));
            Assert.That(ids.Select(PlainObserver.Short), Has.All.Length.EqualTo(8));
        });
    }
}
