namespace Platform.Data.Tests;

[TestFixture]
public sealed class When_a_shared_fleet_is_split_by_fair_share
{
    const double Tolerance = 0.0005;

    static ShareClaim User(string userId, double weight, int cap) => new(userId, weight, cap);

    [Test]
    public void Should_split_by_weight_when_no_cap_binds()
    {
        // The benchmark's figure (b): starter, pro and enterprise backlogged on 2 workers × 8.
        var shares = FairShares.Split(16, [User("starter", 3, 3), User("pro", 10, 10), User("enterprise", 50, 50)]);

        Assert.Multiple(() =>
        {
            Assert.That(shares["starter"], Is.EqualTo(0.762).Within(Tolerance));
            Assert.That(shares["pro"], Is.EqualTo(2.540).Within(Tolerance));
            Assert.That(shares["enterprise"], Is.EqualTo(12.698).Within(Tolerance));
            Assert.That(shares.Values.Sum(), Is.EqualTo(16).Within(1e-9));
        });
    }

    [Test]
    public void Should_give_a_light_user_its_weight_s_part_below_its_cap()
    {
        var shares = FairShares.Split(16, [User("free", 1, 1), User("enterprise", 50, 50)]);

        Assert.Multiple(() =>
        {
            Assert.That(shares["free"], Is.EqualTo(0.314).Within(Tolerance));
            Assert.That(shares["enterprise"], Is.EqualTo(15.686).Within(Tolerance));
        });
    }

    [Test]
    public void Should_cap_a_heavy_user_with_little_work_and_give_the_rest_to_the_other()
    {
        // Its weight alone would earn it 8 units, but it has one task to run.
        var shares = FairShares.Split(16, [User("one-task", 50, 1), User("enterprise", 50, 50)]);

        Assert.Multiple(() =>
        {
            Assert.That(shares["one-task"], Is.EqualTo(1));
            Assert.That(shares["enterprise"], Is.EqualTo(15).Within(1e-9));
        });
    }

    [Test]
    public void Should_split_what_a_capped_user_leaves_by_the_others_weights()
    {
        // Level 16/110 would give "capped" 7.3 units: it takes its 2, and the other 14 go 10 : 50.
        var shares = FairShares.Split(16, [User("capped", 50, 2), User("pro", 10, 10), User("enterprise", 50, 50)]);

        Assert.Multiple(() =>
        {
            Assert.That(shares["capped"], Is.EqualTo(2));
            Assert.That(shares["pro"], Is.EqualTo(14.0 * 10 / 60).Within(1e-9));
            Assert.That(shares["enterprise"], Is.EqualTo(14.0 * 50 / 60).Within(1e-9));
        });
    }

    [Test]
    public void Should_give_everyone_its_cap_when_demand_is_below_capacity()
    {
        var shares = FairShares.Split(100, [User("starter", 3, 3), User("pro", 10, 7), User("enterprise", 50, 50)]);

        Assert.That(shares, Is.EquivalentTo(new Dictionary<string, double> { ["starter"] = 3, ["pro"] = 7, ["enterprise"] = 50 }));
    }

    [Test]
    public void Should_give_nothing_to_a_user_without_work()
    {
        var shares = FairShares.Split(16, [User("idle", 50, 0), User("pro", 10, 10)]);

        Assert.Multiple(() =>
        {
            Assert.That(shares["idle"], Is.Zero);
            Assert.That(shares["pro"], Is.EqualTo(10));
        });
    }

    [Test]
    public void Should_split_nothing_among_nobody()
    {
        Assert.That(FairShares.Split(16, []), Is.Empty);
    }

    [Test]
    public void Should_give_everyone_zero_of_no_capacity()
    {
        var shares = FairShares.Split(0, [User("starter", 3, 3), User("enterprise", 50, 50)]);

        Assert.That(shares.Values, Is.All.Zero);
    }

    [Test]
    public void Should_not_depend_on_the_order_users_are_listed_in()
    {
        var users = Many(200);

        var forward = FairShares.Split(1000, users);
        var backward = FairShares.Split(1000, users.AsEnumerable().Reverse().ToList());

        Assert.That(backward, Is.EqualTo(forward), "the same shares, to the last bit");
    }

    [Test]
    public void Should_be_work_conserving_capped_and_proportional_among_the_uncapped()
    {
        var users = Many(1000);
        const int Capacity = 4000;

        var shares = FairShares.Split(Capacity, users);

        var uncapped = users.Where(u => shares[u.UserId] < u.Cap - 1e-9).ToList();
        var level = uncapped.Select(u => shares[u.UserId] / u.Weight).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(shares.Values.Sum(), Is.EqualTo(Math.Min(Capacity, users.Sum(u => u.Cap))).Within(1e-6), "everything usable is shared out");
            Assert.That(users.Where(u => shares[u.UserId] > u.Cap), Is.Empty, "nobody above its cap");
            Assert.That(uncapped, Is.Not.Empty, "the capacity is short: some are below their caps");
            Assert.That(level.Max() - level.Min(), Is.LessThan(1e-9), "the uncapped hold the same share per weight");
            // A user held at its cap would otherwise have got more: its cap per weight is under the level.
            Assert.That(users.Where(u => !uncapped.Contains(u)).Select(u => u.Cap / u.Weight), Is.All.LessThanOrEqualTo(level.Max() + 1e-9));
        });
    }

    [Test]
    public void Should_cap_a_user_by_its_work_when_it_has_fewer_tasks_than_slots()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ShareClaim.Of(new FleetUser("pro", "pro", 10, 10, 2, 1)).Cap, Is.EqualTo(3));
            Assert.That(ShareClaim.Of(new FleetUser("pro", "pro", 10, 10, 8, 400)).Cap, Is.EqualTo(10));
        });
    }

    [Test]
    public void Should_leave_out_a_fleet_user_whose_tier_is_no_longer_configured()
    {
        // Fleet.Users gives such a user no weight and no slots; its tasks in flight still fill the fleet.
        var shares = FairShares.OfFleet(16, [new FleetUser("gone", "platinum", 0, 0, 4, 100), new FleetUser("pro", "pro", 10, 10, 2, 100)]);

        Assert.That(shares, Is.EquivalentTo(new Dictionary<string, double> { ["pro"] = 10 }));
    }

    [Test]
    public void Should_refuse_a_weight_that_is_not_above_zero()
    {
        Assert.That(() => FairShares.Split(16, [User("weightless", 0, 1)]), Throws.TypeOf<ArgumentOutOfRangeException>());
    }

    [Test]
    public void Should_refuse_a_user_listed_twice()
    {
        Assert.That(() => FairShares.Split(16, [User("twice", 1, 1), User("twice", 3, 3)]), Throws.ArgumentException);
    }

    /// <summary>Tiers' weights and caps from their slots down to one task, the same every run.</summary>
    static List<ShareClaim> Many(int count)
    {
        var random = new Random(15);
        (double Weight, int Slots)[] tiers = [(1, 1), (3, 3), (10, 10), (50, 50)];
        return Enumerable.Range(0, count).Select(i =>
        {
            var (weight, slots) = tiers[random.Next(tiers.Length)];
            return User($"user-{i:D4}", weight, random.Next(1, slots + 1));
        }).ToList();
    }
}
