using Platform.Data;
using Platform.Data.Model;
using Platform.Dispatch;

namespace Platform.Orchestrator.Tests.Dispatch;

/// <summary>
/// <see cref="FairShare.Grant"/> with credentials' budgets: a user whose credential has no room for one more task is passed
/// over like a user at its slots, the room is shared by every user on that credential, and a user's own key is a budget of
/// its own. Then the arithmetic of the trailing minute (<see cref="CredentialBudgets.Held"/>) and of what waitingFor says.
/// </summary>
[TestFixture]
public sealed class When_fair_share_meets_a_provider_budget
{
    static readonly Guid Own = Guid.Parse("7d1c1a52-4a55-4d7e-9b7a-0b3f0d2f9c11");
    static readonly DateTimeOffset Noon = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    static ShareCandidate User(string id, double vtime, CandidateBudget budget, int slots = 10) =>
        new(id, "pro", vtime, 1, 10, slots, 0, budget);

    static CandidateBudget Platform(double? requests, double? tokens, double estimate = 1000, bool paused = false, bool simulatedDue = false) =>
        new(CredentialBudget.PlatformCredential, estimate, requests, tokens, paused, simulatedDue);

    [Test]
    public void Should_give_the_units_by_virtual_time_only_as_far_as_the_shared_budget_goes()
    {
        // Room for 3 tasks of 1,000 tokens: the first user (lowest virtual time) gets 2, the second 1, then nobody.
        var budget = Platform(requests: 50, tokens: 3_500);
        var grants = FairShare.Grant([User("a", 0, budget), User("b", 0.05, budget)], units: 10);

        Assert.That(grants.Select(g => (g.User.UserId, g.Units)), Is.EqualTo(new[] { ("a", 2), ("b", 1) }));
    }

    [Test]
    public void Should_stop_at_the_request_budget()
    {
        var budget = Platform(requests: 2.5, tokens: null);
        var grants = FairShare.Grant([User("a", 0, budget), User("b", 0, budget)], units: 10);

        Assert.That(grants.Sum(g => g.Units), Is.EqualTo(2));
    }

    [Test]
    public void Should_pass_over_a_user_whose_credential_is_spent_and_give_the_unit_to_the_next()
    {
        // "a" comes first by virtual time, but the platform's budget is spent; "b" runs on its own key.
        var grants = FairShare.Grant([User("a", 0, Platform(10, 200)), User("b", 5, new CandidateBudget(Own, 1000, 100, 100_000, false, false))], units: 1);

        Assert.That(grants.Select(g => g.User.UserId), Is.EqualTo(new[] { "b" }));
    }

    [Test]
    public void Should_give_nothing_on_a_paused_credential()
    {
        var grants = FairShare.Grant([User("a", 0, Platform(100, 100_000, paused: true))], units: 4);

        Assert.That(grants, Is.Empty);
    }

    [Test]
    public void Should_still_give_units_for_simulated_tasks_on_a_spent_credential()
    {
        var grants = FairShare.Grant([User("a", 0, Platform(0, 0, simulatedDue: true), slots: 2)], units: 4);

        Assert.That(grants.Select(g => (g.User.UserId, g.Units)), Is.EqualTo(new[] { ("a", 2) }));
    }

    [Test]
    public void Should_count_what_the_decision_already_reserved()
    {
        // The decision's own reading of the budget wins over a candidate's (read before the decision reserved from it).
        var rooms = new Dictionary<Guid, BudgetRoom> { [CredentialBudget.PlatformCredential] = new BudgetRoom(10, 500, false) };
        var grants = FairShare.Grant([User("a", 0, Platform(10, 5_000))], units: 4, rooms);

        Assert.Multiple(() =>
        {
            Assert.That(grants, Is.Empty);
            Assert.That(rooms[CredentialBudget.PlatformCredential].Tokens, Is.EqualTo(500), "Grant plans on a copy");
        });
    }

    [Test]
    public void Should_hold_nothing_back_while_the_limits_are_unknown()
    {
        var grants = FairShare.Grant([User("a", 0, Platform(null, null))], units: 4);

        Assert.That(grants.Single().Units, Is.EqualTo(4));
    }

    [Test]
    public void Should_refuse_a_batch_s_next_task_that_does_not_fit_and_keep_its_order()
    {
        var a = new BatchLane(Guid.NewGuid(), 0, Noon, [Guid.NewGuid(), Guid.NewGuid()]);
        var b = new BatchLane(Guid.NewGuid(), 1, Noon.AddSeconds(1), [Guid.NewGuid()]);
        long turn = 1;
        // Batch a's next task calls the provider and does not fit; b's is simulated.
        var picks = RoundRobin.Choose([a, b], [0, 1, 2], ref turn, task => task != a.NextTasks[0]);

        Assert.That(picks.Select(p => p.TaskId), Is.EqualTo(new[] { b.NextTasks[0] }), "a's second task may not jump its first");
    }

    [Test]
    public void Should_drain_the_trailing_minute_at_the_limit()
    {
        Assert.Multiple(() =>
        {
            // 120 a minute drain 2 a second: 10 held, 3 s later 4.
            Assert.That(CredentialBudgets.Held(10, 120, Noon, Noon.AddSeconds(3)), Is.EqualTo(4).Within(1e-9));
            Assert.That(CredentialBudgets.Held(10, 120, Noon, Noon.AddSeconds(60)), Is.Zero, "never below zero");
            Assert.That(CredentialBudgets.Held(10, 120, Noon, Noon.AddSeconds(-5)), Is.EqualTo(10), "a clock behind the row's drains nothing");
            // Unknown limit: whatever it held is gone within a minute.
            Assert.That(CredentialBudgets.Held(600, null, Noon, Noon.AddSeconds(30)), Is.EqualTo(300).Within(1e-9));
            Assert.That(CredentialBudgets.Held(600, null, Noon, Noon.AddMinutes(2)), Is.Zero);
        });
    }

    [Test]
    public void Should_say_when_the_token_budget_has_room_again()
    {
        // 20,000 a minute (333 a second); 19,500 held: a 1,500-token task fits once 1,000 more have drained, in 3 s.
        var budget = new CredentialBudget { CredentialId = Guid.Empty, Rpm = 120, Tpm = 20_000, Requests = 10, Tokens = 19_500, RefilledAt = Noon };
        var wait = CredentialBudgetViews.Wait(budget, ownKey: false, estimate: 1_500, Noon);

        Assert.Multiple(() =>
        {
            Assert.That(wait!.NotBefore, Is.EqualTo(Noon.AddSeconds(3)));
            Assert.That(wait.Detail, Is.EqualTo("the provider's token budget (20000 a minute) has no room for this task (about 1500 tokens); it refills at 12:00:03 UTC"));
            Assert.That(CredentialBudgetViews.Wait(budget, false, 1_500, Noon.AddSeconds(3)), Is.Null, "fits then");
        });
    }

    [Test]
    public void Should_say_when_a_paused_credential_resumes()
    {
        var budget = new CredentialBudget { Rpm = 120, Tpm = 20_000, RefilledAt = Noon, PausedUntil = Noon.AddSeconds(5) };
        var wait = CredentialBudgetViews.Wait(budget, ownKey: true, estimate: 100, Noon);

        Assert.Multiple(() =>
        {
            Assert.That(wait!.NotBefore, Is.EqualTo(Noon.AddSeconds(5)));
            Assert.That(wait.Detail, Does.Contain("your provider key's budget is paused until 12:00:05 UTC"));
        });
    }
}
