using Platform.Testing;

namespace Platform.Drills.Tests;

/// <summary>
/// While a batch runs, every TaskCompleted is published twice more, newest first (copies written to the outbox as a
/// relay that crashed after publishing would leave them), against two orchestrators: the saga's ledger counts each
/// task once.
/// </summary>
[TestFixture]
public sealed class When_every_task_completed_is_delivered_twice
{
    const int TaskCount = 60;

    PlatformCluster _cluster = null!;
    HttpClient _management = null!;
    int _copies;
    int _copiesWhileRunning;

    [OneTimeSetUp]
    public async Task DuplicateEveryCompletion()
    {
        _cluster = await PlatformCluster.Start(nameof(When_every_task_completed_is_delivered_twice), orchestrators: 2, workers: 1);
        _management = await LocalInfrastructure.ManagementClient();
        using var user = await _cluster.CreateUser("duplicates-user", "pro");
        await PlatformCluster.SubmitBatch(user, "sixty companies", Drill.Inputs(TaskCount, Drill.Between(300, 600)));

        var duplicated = new HashSet<Guid>();
        var deadline = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(90);
        while (duplicated.Count < TaskCount && DateTimeOffset.UtcNow < deadline)
        {
            var finished = await _cluster.Scalar<bool>("SELECT EXISTS (SELECT 1 FROM batch_states WHERE finished_at IS NOT NULL)");
            // Two copies of each newly completed task's event, the latest completion first.
            var copied = await _cluster.Query("""
                WITH fresh AS (
                    SELECT t.task_id, t.batch_id, t.user_id, t.slot, t.started_at, t.finished_at FROM tasks t
                    WHERE t.status = 'completed' AND NOT (t.task_id = ANY($1)))
                , copies AS (
                    INSERT INTO outbox_messages (message_type, body, created_at)
                    SELECT 'Platform.Contracts.TaskCompleted',
                           jsonb_build_object('taskId', f.task_id, 'batchId', f.batch_id, 'userId', f.user_id, 'slot', f.slot,
                                              'startedAt', f.started_at, 'timestamp', f.finished_at),
                           now()
                    FROM fresh f CROSS JOIN generate_series(1, 2)
                    ORDER BY f.finished_at DESC
                    RETURNING body)
                SELECT (body->>'taskId')::uuid FROM copies
                """, r => r.GetGuid(0), duplicated.ToArray());
            duplicated.UnionWith(copied);
            var copiedCount = copied.Count;
            _copies += copiedCount;
            if (!finished)
                _copiesWhileRunning += copiedCount;
            await Task.Delay(150);
        }

        await Drill.WaitForBatchesToFinish(_cluster, TimeSpan.FromSeconds(60));
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _management?.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public async Task Should_count_each_task_once()
    {
        // Every copy was published (the outbox drained) and consumed (the saga's queue is empty) before counting.
        await Poll.Until(() => _cluster.Scalar<long>("SELECT count(*) FROM outbox_messages"), n => n == 0, TimeSpan.FromSeconds(30), "the outbox to drain");
        await Poll.Until(() => Drill.QueueDepth(_management, _cluster, "batch-state"), n => n == 0, TimeSpan.FromSeconds(30), "batch-state to drain");
        var saga = (await _cluster.Query("SELECT completed, failed, current_state FROM batch_states", r => (Completed: r.GetInt32(0), Failed: r.GetInt32(1), State: r.GetString(2)))).Single();
        var inError = await Drill.QueueDepth(_management, _cluster, "batch-state_error");
        var suppressed = TaskCount + _copies - saga.Completed;
        Drill.Print($"{TaskCount} tasks, {TaskCount} original TaskCompleted + {_copies} copies ({_copiesWhileRunning} while the batch ran, newest first)");
        Drill.Print($"saga counted {saga.Completed} completed, state {saga.State}: {suppressed} duplicate deliveries suppressed; batch-state_error holds {inError}");

        Assert.Multiple(() =>
        {
            Assert.That(_copies, Is.EqualTo(2 * TaskCount), "every completion was copied twice");
            Assert.That(_copiesWhileRunning, Is.GreaterThan(0), "copies raced the running batch");
            Assert.That(saga.Completed, Is.EqualTo(TaskCount));
            Assert.That(saga.State, Is.EqualTo("Completed"));
            Assert.That(inError, Is.Zero, "no copy was rejected: each was consumed and suppressed");
        });
    }

    [Test]
    public async Task Should_keep_the_books()
    {
        var report = await Invariants.AssertNothingLostNothingTwice(_cluster, TimeSpan.FromSeconds(30));
        Assert.That(report.Completed, Is.EqualTo(TaskCount));
    }
}
