using Platform.Testing;

namespace Platform.Cancellation.Tests;

/// <summary>
/// A starter user's first batch holds all three slots with slow tasks; a second batch waits behind it. Cancelling the
/// first frees the slots at once: the second batch gets all three and completes, untouched by the cancellation.
/// </summary>
[TestFixture]
public sealed class When_one_of_two_batches_of_a_user_is_cancelled
{
    const string UserId = "two-batches";
    const int KeptTasks = 6;

    PlatformCluster _cluster = null!;
    HttpClient _user = null!;
    Guid _cancelled;
    Guid _kept;
    DateTimeOffset _deleteSentAt;

    [OneTimeSetUp]
    public async Task CancelTheFirst()
    {
        _cluster = await PlatformCluster.Start(nameof(When_one_of_two_batches_of_a_user_is_cancelled), orchestrators: 1, workers: 2);
        _user = await _cluster.CreateUser(UserId, "starter");
        _cancelled = await PlatformCluster.SubmitBatch(_user, "slow", BatchRows.Inputs(6, durationMs: 30_000));
        await Poll.Until(() => BatchRows.StartedAndRunning(_cluster, _cancelled), n => n == 3, TimeSpan.FromSeconds(30), "the slow batch to hold every slot");
        _kept = await PlatformCluster.SubmitBatch(_user, "quick", BatchRows.Inputs(KeptTasks, durationMs: 1_500));

        _deleteSentAt = DateTimeOffset.UtcNow;
        await BatchRows.Delete(_user, _cancelled);
        await BatchRows.WaitForStatus(_cluster, _user, _kept, "completed", TimeSpan.FromSeconds(60));
        await BatchRows.WaitForStatus(_cluster, _user, _cancelled, "cancelled", TimeSpan.FromSeconds(30));
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _user?.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public async Task Should_complete_every_task_of_the_other_batch_once()
    {
        var rows = await BatchRows.Tasks(_cluster, _kept);
        var saga = await BatchRows.Saga(_cluster, _kept);
        var requested = await _cluster.Scalar<bool>("SELECT cancel_requested_at IS NOT NULL FROM batches WHERE batch_id = $1", _kept);

        Assert.Multiple(() =>
        {
            Assert.That(rows.Select(t => (t.Status, t.Attempts)), Is.All.EqualTo(("completed", 1)));
            Assert.That((saga.State, saga.Completed, saga.Cancelled), Is.EqualTo(("Completed", KeptTasks, 0)));
            Assert.That(requested, Is.False);
        });
    }

    [Test]
    public async Task Should_give_the_freed_slots_to_the_other_batch_at_once()
    {
        var rows = await BatchRows.Tasks(_cluster, _kept);
        var firstStart = rows.Min(t => t.StartedAt!.Value);
        var (peak, _) = Timeline.PeakOverlap(rows.Select(t => new Interval(t.TaskId, _kept, t.StartedAt!.Value, t.FinishedAt!.Value)));
        TestContext.Out.WriteLine($"the other batch's first task started {(firstStart - _deleteSentAt).TotalMilliseconds:0} ms after the DELETE");

        Assert.Multiple(() =>
        {
            Assert.That(rows.Select(t => t.StartedAt), Is.All.GreaterThan(_deleteSentAt), "nothing of it ran while the slow batch held the slots");
            Assert.That(firstStart - _deleteSentAt, Is.LessThan(TimeSpan.FromSeconds(5)), "refilled when the slow tasks stopped, not when they would have ended");
            Assert.That(peak, Is.EqualTo(3), "it had all three slots");
        });
    }

    [Test]
    public async Task Should_end_the_cancelled_batch_and_charge_only_the_other()
    {
        var cancelled = await BatchRows.Tasks(_cluster, _cancelled);
        var saga = await BatchRows.Saga(_cluster, _cancelled);
        var (used, reserved) = await BatchRows.Usage(_cluster, UserId);

        Assert.Multiple(() =>
        {
            Assert.That(cancelled.Select(t => t.Status), Is.All.EqualTo("cancelled"));
            Assert.That((saga.State, saga.Cancelled), Is.EqualTo(("Cancelled", 6)));
            Assert.That((used, reserved), Is.EqualTo((KeptTasks, 0)));
        });
    }
}
