using Platform.Dispatch;

namespace Platform.Orchestrator.Tests.Dispatch;

[TestFixture]
public sealed class When_free_slots_are_counted
{
    [Test]
    public void Should_offer_every_slot_of_an_idle_user()
    {
        Assert.That(RoundRobin.FreeSlots(3, []), Is.EqualTo(new[] { 0, 1, 2 }));
    }

    [Test]
    public void Should_offer_the_lowest_slots_not_in_use()
    {
        Assert.That(RoundRobin.FreeSlots(5, [0, 2]), Is.EqualTo(new[] { 1, 3, 4 }));
    }

    [Test]
    public void Should_offer_nothing_when_every_slot_is_busy()
    {
        Assert.That(RoundRobin.FreeSlots(2, [1, 0]), Is.Empty);
    }

    [Test]
    public void Should_count_slots_beyond_a_lowered_tier_against_the_new_concurrency()
    {
        // Downgraded from pro (10) to starter (3) while slots 7, 8 and 9 still run: 3 in flight is already the limit.
        Assert.That(RoundRobin.FreeSlots(3, [7, 8, 9]), Is.Empty);
    }

    [Test]
    public void Should_offer_only_what_the_new_concurrency_leaves_after_a_downgrade()
    {
        // Two tasks still hold slots 5 and 9 of the old tier: one of the three new slots is free, the lowest.
        Assert.That(RoundRobin.FreeSlots(3, [5, 9]), Is.EqualTo(new[] { 0 }));
    }

    [Test]
    public void Should_offer_new_slots_after_an_upgrade()
    {
        Assert.That(RoundRobin.FreeSlots(4, [0]), Is.EqualTo(new[] { 1, 2, 3 }));
    }
}
