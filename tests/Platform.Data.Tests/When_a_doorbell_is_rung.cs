using Platform.Data;

namespace Platform.Data.Tests;

/// <summary>The wake-up of the outbox relay, the events streams and the workers' end notices.</summary>
[TestFixture]
public sealed class When_a_doorbell_is_rung
{
    [Test]
    public async Task Should_make_one_wake_up_of_many_rings()
    {
        using var bell = new Doorbell();
        for (var i = 0; i < 5; i++)
            bell.Ring();
        Assert.Multiple(async () =>
        {
            Assert.That(await bell.Wait(TimeSpan.Zero, CancellationToken.None), Is.True, "rung");
            Assert.That(await bell.Wait(TimeSpan.FromMilliseconds(50), CancellationToken.None), Is.False, "five rings are one wake-up");
        });
    }

    [Test]
    public async Task Should_wake_a_waiter_that_waited_first()
    {
        using var bell = new Doorbell();
        var waiting = bell.Wait(TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.That(waiting.IsCompleted, Is.False);
        bell.Ring();
        Assert.That(await waiting, Is.True);
    }

    [Test]
    public async Task Should_ring_from_many_threads_at_once_without_throwing()
    {
        using var bell = new Doorbell();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 10_000; i++)
                bell.Ring();
        })));
        Assert.That(await bell.Wait(TimeSpan.Zero, CancellationToken.None), Is.True);
    }

    [Test]
    public void Should_ignore_a_ring_after_its_waiter_is_gone()
    {
        var bell = new Doorbell();
        bell.Dispose();
        Assert.That(bell.Ring, Throws.Nothing);
    }
}
