using Platform.Testing;

namespace Platform.Drills.Tests;

/// <summary>
/// A 1,000-task batch whose rows are completed directly in the database, then 1,000 TaskCompleted published at once
/// against two orchestrators: the saga counts exactly 1,000, ends completed, and publishes BatchFinished once.
/// </summary>
[TestFixture]
public sealed class When_a_thousand_completions_race
{
    const int TaskCount = 1000;
    const string FinishedQueue = "drill-batch-finished";

    PlatformCluster _cluster = null!;
    HttpClient _management = null!;
    TimeSpan _counted;

    [OneTimeSetUp]
    public async Task CompleteEveryTaskAtOnce()
    {
        // No worker: dispatched tasks are never run, the drill completes them.
        _cluster = await PlatformCluster.Start(nameof(When_a_thousand_completions_race), orchestrators: 2, workers: 0);
        _management = await LocalInfrastructure.ManagementClient();
        await Drill.CaptureQueue(_management, _cluster, "BatchFinished", FinishedQueue);
        using var user = await _cluster.CreateUser("race-user", "enterprise");
        var batchId = await PlatformCluster.SubmitBatch(user, "a thousand companies", Drill.Inputs(TaskCount, _ => 100));
        await Poll.Until(() => _cluster.Scalar<long>("SELECT count(*) FROM batch_states"), n => n == 1, TimeSpan.FromSeconds(30), "the saga to start");

        // What workers would have written: every row completed, usage committed, the reservation released.
        await _cluster.Scalar<long>("""
            WITH done AS (
                UPDATE tasks SET status = 'completed', started_at = COALESCE(started_at, now()), finished_at = now(), result = '{}'::jsonb,
                                 attempts = GREATEST(attempts, 1), slot = COALESCE(slot, 0)
                WHERE batch_id = $1 RETURNING task_id)
            , usage AS (UPDATE users SET used_this_month = used_this_month + (SELECT count(*) FROM done), reserved = 0 WHERE user_id = 'race-user')
            SELECT count(*) FROM done
            """, batchId);

        var publishedAt = DateTimeOffset.UtcNow;
        await _cluster.Scalar<long>("""
            WITH copies AS (
                INSERT INTO outbox_messages (message_type, body, created_at)
                SELECT 'Platform.Contracts.TaskCompleted',
                       jsonb_build_object('taskId', task_id, 'batchId', batch_id, 'userId', user_id, 'slot', slot,
                                          'startedAt', started_at, 'timestamp', finished_at),
                       now()
                FROM tasks WHERE batch_id = $1
                RETURNING id)
            SELECT count(*) FROM copies
            """, batchId);
        await Drill.WaitForBatchesToFinish(_cluster, TimeSpan.FromSeconds(120));
        _counted = DateTimeOffset.UtcNow - publishedAt;
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _management?.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public async Task Should_count_exactly_a_thousand_and_finish_once()
    {
        var saga = (await _cluster.Query("SELECT completed, current_state FROM batch_states", r => (Completed: r.GetInt32(0), State: r.GetString(1)))).Single();
        var finished = await Poll.Until(() => Drill.TakeMessages(_management, _cluster, FinishedQueue), m => m.Count >= 1, TimeSpan.FromSeconds(30),
            "BatchFinished to be published");
        // A second BatchFinished would have been published with the first (the saga finishes on one event): give it time to show.
        await Poll.Until(() => Drill.QueueDepth(_management, _cluster, "batch-state"), n => n == 0, TimeSpan.FromSeconds(30), "batch-state to drain");
        await Task.Delay(TimeSpan.FromSeconds(1));
        finished.AddRange(await Drill.TakeMessages(_management, _cluster, FinishedQueue));
        Drill.Print($"{TaskCount} TaskCompleted published at once to 2 orchestrators: counted {saga.Completed} in {Drill.Seconds(_counted)} ({TaskCount / _counted.TotalSeconds:F0}/s), state {saga.State}, BatchFinished published {finished.Count} time(s)");

        Assert.Multiple(() =>
        {
            Assert.That(saga.Completed, Is.EqualTo(TaskCount));
            Assert.That(saga.State, Is.EqualTo("Completed"));
            Assert.That(finished, Has.Count.EqualTo(1), "BatchFinished exactly once");
        });
    }

    [Test]
    public async Task Should_keep_the_books()
    {
        var report = await Invariants.AssertNothingLostNothingTwice(_cluster, TimeSpan.FromSeconds(30));
        Assert.That(report.Completed, Is.EqualTo(TaskCount));
    }
}
