using Platform.Dispatch;

namespace Platform.Orchestrator.Tests.Dispatch;

/// <summary>
/// <see cref="FairShare.Grant"/>, the rule that decides who gets a free unit of the fleet: lowest virtual time first,
/// each unit charging its user the estimate over the weight, never past a user's slots.
/// </summary>
[TestFixture]
public sealed class When_fair_share_gives_out_units
{
    static ShareCandidate User(string id, double virtualTime, double weight, int slots, int running = 0, double meanSeconds = 1) =>
        new(id, "tier", virtualTime, meanSeconds, weight, slots, running);

    static Dictionary<string, int> Grant(int units, params ShareCandidate[] users) =>
        FairShare.Grant(users, units).ToDictionary(g => g.User.UserId, g => g.Units);

    [Test]
    public void Should_give_units_in_proportion_to_weight_when_all_start_equal()
    {
        var given = Grant(63, User("starter", 0, weight: 3, slots: 100), User("pro", 0, weight: 10, slots: 100),
            User("enterprise", 0, weight: 50, slots: 100));

        Assert.That(given, Is.EqualTo(new Dictionary<string, int> { ["starter"] = 3, ["pro"] = 10, ["enterprise"] = 50 }));
    }

    [Test]
    public void Should_never_give_a_user_more_than_its_free_slots_and_give_the_rest_to_others()
    {
        var given = Grant(16, User("free", 0, weight: 100, slots: 1), User("enterprise", 0, weight: 50, slots: 50, running: 10));

        Assert.That(given, Is.EqualTo(new Dictionary<string, int> { ["free"] = 1, ["enterprise"] = 15 }));
    }

    [Test]
    public void Should_give_the_unit_to_the_lowest_virtual_time()
    {
        var given = Grant(1, User("ahead", 5.0, weight: 50, slots: 50), User("behind", 4.9, weight: 1, slots: 1));

        Assert.That(given.Keys, Is.EqualTo(new[] { "behind" }));
    }

    [Test]
    public void Should_break_a_tie_for_the_user_with_nothing_running()
    {
        // A user that just became ready starts at the lowest virtual time: it must take the very next unit.
        var given = Grant(1, User("a-heavy", 7.0, weight: 50, slots: 50, running: 16), User("z-newcomer", 7.0, weight: 1, slots: 1));

        Assert.That(given.Keys, Is.EqualTo(new[] { "z-newcomer" }));
    }

    [Test]
    public void Should_charge_longer_tasks_more()
    {
        // Equal weights, but one user's tasks take four times as long: it gets a fifth of the units, the same share of time.
        var given = Grant(10, User("long", 0, weight: 1, slots: 100, meanSeconds: 4), User("short", 0, weight: 1, slots: 100, meanSeconds: 1));

        Assert.That(given, Is.EqualTo(new Dictionary<string, int> { ["long"] = 2, ["short"] = 8 }));
    }

    [Test]
    public void Should_give_nothing_when_nobody_has_room()
    {
        Assert.That(Grant(4, User("full", 0, weight: 3, slots: 3, running: 3)), Is.Empty);
    }
}
