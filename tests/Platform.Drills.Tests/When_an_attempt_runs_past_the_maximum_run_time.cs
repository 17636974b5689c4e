using Platform.Testing;

namespace Platform.Drills.Tests;

/// <summary>
/// A task whose attempts take 5 s under a 2 s maximum run time and 2 attempts: the reconciler takes the first attempt
/// back (queued again, no slot), the second one fails the task, and the worker that finishes the first attempt later
/// cannot record its result over them.
/// </summary>
[TestFixture]
public sealed class When_an_attempt_runs_past_the_maximum_run_time
{
    const int SlowMs = 5000;

    PlatformCluster _cluster = null!;

    [OneTimeSetUp]
    public async Task RunABatchWithATaskThatRunsTooLong()
    {
        _cluster = await PlatformCluster.Start(nameof(When_an_attempt_runs_past_the_maximum_run_time), orchestrators: 1, workers: 1,
            settings: new Dictionary<string, string>
            {
                ["Platform__Worker__MaxRunTime"] = "00:00:02",
                ["Platform__Worker__MaxAttempts"] = "2",
                ["Platform__Worker__RetryBaseDelay"] = "00:00:01",
            });
        using var user = await _cluster.CreateUser("overdue-user", "pro");
        await PlatformCluster.SubmitBatch(user, "one task runs too long", Drill.Inputs(3, i => i == 0 ? SlowMs : 100));
        await Drill.WaitForBatchesToFinish(_cluster, TimeSpan.FromSeconds(60));

        // The worker is still running attempt 2 when the batch finishes: let both attempts end before the checks.
        await Task.Delay(SlowMs);
    }

    [OneTimeTearDown]
    public Task Stop() => _cluster.DisposeAsync().AsTask();

    [Test]
    public async Task Should_retry_then_fail_the_task_without_a_result()
    {
        var slow = (await Drill.Tasks(_cluster))[0];
        Drill.Print($"slow task: {slow.Status} after {slow.Attempts} attempt(s); result recorded: {slow.HasResult}; error: {slow.Error}");
        Drill.Print($"last attempt started {slow.StartedAt:HH:mm:ss.fff}, failed {slow.FinishedAt:HH:mm:ss.fff} ({Drill.Seconds((slow.FinishedAt - slow.StartedAt) ?? TimeSpan.Zero)} in)");

        Assert.Multiple(() =>
        {
            Assert.That(slow.Status, Is.EqualTo("failed"));
            Assert.That(slow.Attempts, Is.EqualTo(2), "taken back once, then failed on the last attempt");
            Assert.That(slow.Error, Does.Contain("maximum run time"));
            Assert.That(slow.HasResult, Is.False, "neither late attempt recorded its result");
            Assert.That(slow.FinishedAt - slow.StartedAt, Is.LessThan(TimeSpan.FromMilliseconds(SlowMs)), "failed before the attempt could finish");
        });
    }

    [Test]
    public async Task Should_keep_the_books()
    {
        var report = await Invariants.AssertNothingLostNothingTwice(_cluster, TimeSpan.FromSeconds(30));
        Assert.That((report.Completed, report.Failed), Is.EqualTo((2, 1)));
    }
}
