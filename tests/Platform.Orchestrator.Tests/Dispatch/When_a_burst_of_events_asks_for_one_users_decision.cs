using Platform.Orchestrator.Dispatch;

namespace Platform.Orchestrator.Tests.Dispatch;

[TestFixture]
public sealed class When_a_burst_of_events_asks_for_one_users_decision
{
    [Test]
    public async Task Should_run_decisions_one_at_a_time_and_fold_the_waiting_requests_into_one()
    {
        var gate = new DispatchGate();
        var inside = 0;
        var mostInside = 0;
        var decisions = 0;
        var release = new TaskCompletionSource();
        async Task<int> Decide(CancellationToken _)
        {
            mostInside = Math.Max(mostInside, Interlocked.Increment(ref inside));
            Interlocked.Increment(ref decisions);
            await release.Task;
            Interlocked.Decrement(ref inside);
            return 1;
        }

        var first = gate.Decide("u", Decide, CancellationToken.None);
        var burst = Enumerable.Range(0, 50).Select(_ => gate.Decide("u", Decide, CancellationToken.None)).ToList();
        release.SetResult();
        await Task.WhenAll(burst.Append(first));

        Assert.Multiple(() =>
        {
            Assert.That(mostInside, Is.EqualTo(1), "one decision per user at a time");
            Assert.That(decisions, Is.EqualTo(2), "the running decision, then one that covers all fifty requests made meanwhile");
        });
    }

    [Test]
    public async Task Should_not_let_a_failed_decision_cover_the_requests_that_waited_for_it()
    {
        var gate = new DispatchGate();
        var release = new TaskCompletionSource();
        var calls = 0;
        async Task<int> FailOnce(CancellationToken _)
        {
            await release.Task;
            return Interlocked.Increment(ref calls) == 1 ? throw new InvalidOperationException("database went away") : 1;
        }

        var failing = gate.Decide("u", FailOnce, CancellationToken.None);
        var waiting = gate.Decide("u", FailOnce, CancellationToken.None);
        release.SetResult();

        Assert.That(async () => await failing, Throws.InvalidOperationException);
        Assert.Multiple(async () =>
        {
            Assert.That(await waiting, Is.EqualTo(1), "the waiting request ran its own decision");
            Assert.That(calls, Is.EqualTo(2));
        });
    }

    [Test]
    public async Task Should_keep_users_independent()
    {
        var gate = new DispatchGate();
        var blockA = new TaskCompletionSource<int>();
        var a = gate.Decide("a", _ => blockA.Task, CancellationToken.None);

        var b = await gate.Decide("b", _ => Task.FromResult(3), CancellationToken.None);

        Assert.That(b, Is.EqualTo(3), "user b decided while user a's decision was still running");
        blockA.SetResult(1);
        Assert.That(await a, Is.EqualTo(1));
    }
}
