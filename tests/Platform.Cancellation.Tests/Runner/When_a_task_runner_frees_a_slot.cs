using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Platform.Contracts;
using Platform.Data.Model;
using Platform.Worker.Execution;

namespace Platform.Cancellation.Tests.Runner;

/// <summary>
/// The hand-over, on a real database: the transaction that ends a task refills the slot it frees, and the task chosen
/// for it runs next under the same ExecuteTask's lease, round-robin across the user's batches, until nothing is queued.
/// A stopping host hands nothing over, a redelivered lease takes over whichever task it carries, a duplicate first
/// delivery leaves the task to the delivery running it, and an attempt superseded while it ran records and refills nothing.
/// </summary>
/// <remarks>
/// A starter user with two slots and two batches: A (a0 running in slot 0 under lease L; a1, a2 queued) and B (b0, b1
/// queued), B's turn being the older.
/// </remarks>
[TestFixture]
public sealed class When_a_task_runner_frees_a_slot
{
    const string UserId = "hand-over-user";

    RunnerHarness _runner = null!;
    readonly Guid _a = Guid.CreateVersion7();
    readonly Guid _b = Guid.CreateVersion7();
    readonly Guid _lease = Guid.CreateVersion7();
    readonly Guid[] _aTasks = [Guid.CreateVersion7(), Guid.CreateVersion7(), Guid.CreateVersion7()];
    readonly Guid[] _bTasks = [Guid.CreateVersion7(), Guid.CreateVersion7()];

    [SetUp]
    public async Task DispatchTheFirstTask()
    {
        _runner = await RunnerHarness.Start(TestContext.CurrentContext.Test.Name, starterConcurrency: 2);
        await _runner.Sql($$"""
            INSERT INTO users (user_id, tier, own_provider_key, api_key_hash, created_at, quota_month, used_this_month, reserved)
            VALUES ('{{UserId}}', 'starter', false, 'hash', now(), to_char(now(), 'YYYY-MM'), 0, 5);
            INSERT INTO user_shares (user_id, virtual_time, mean_seconds, ready) VALUES ('{{UserId}}', 0, 1, true);
            INSERT INTO batches (batch_id, user_id, name, instructions, total, created_at, open, last_turn, cancelling) VALUES
                ('{{_a}}', '{{UserId}}', 'A', 'Research {company}', 3, now() - interval '1 minute', true, 1, false),
                ('{{_b}}', '{{UserId}}', 'B', 'Research {company}', 2, now(), true, 0, false);
            INSERT INTO tasks (task_id, batch_id, user_id, seq, key, input, status, attempts, slot, lease_id, queued_at, dispatched_at, counted) VALUES
                ('{{_aTasks[0]}}', '{{_a}}', '{{UserId}}', 0, 'a0', '{"company": "a0"}', 'running', 0, 0, '{{_lease}}', now(), now(), false),
                ('{{_aTasks[1]}}', '{{_a}}', '{{UserId}}', 1, 'a1', '{"company": "a1"}', 'queued', 0, NULL, NULL, now(), NULL, false),
                ('{{_aTasks[2]}}', '{{_a}}', '{{UserId}}', 2, 'a2', '{"company": "a2"}', 'queued', 0, NULL, NULL, now(), NULL, false),
                ('{{_bTasks[0]}}', '{{_b}}', '{{UserId}}', 0, 'b0', '{"company": "b0"}', 'queued', 0, NULL, NULL, now(), NULL, false),
                ('{{_bTasks[1]}}', '{{_b}}', '{{UserId}}', 1, 'b1', '{"company": "b1"}', 'queued', 0, NULL, NULL, now(), NULL, false);
            """);
    }

    [TearDown]
    public Task Dispose() => _runner.DisposeAsync().AsTask();

    [Test]
    public async Task Should_run_the_slots_next_tasks_under_the_same_lease_round_robin()
    {
        await _runner.Run(Delivery()).WaitAsync(TimeSpan.FromSeconds(30));
        var tasks = await Tasks();
        var a1 = tasks[_aTasks[1]];
        var chain = new[] { _aTasks[0], _bTasks[0], _bTasks[1], _aTasks[2] }.Select(id => tasks[id]).ToList();
        var executeTasks = await _runner.Scalar<long>("SELECT count(*) FROM outbox_messages WHERE message_type LIKE '%ExecuteTask'");
        var executeTaskLease = await _runner.Scalar<string>("SELECT body::jsonb->>'leaseId' FROM outbox_messages WHERE message_type LIKE '%ExecuteTask'");

        Assert.Multiple(async () =>
        {
            // Slot 0 first went to B (the older turn), slot 1 to A; then the slot alternates while both have work.
            Assert.That(_runner.Executor.Ran, Is.EqualTo(new[] { _aTasks[0], _bTasks[0], _bTasks[1], _aTasks[2] }), "one delivery ran the slot's tasks in turn");
            Assert.That(chain.Select(t => (t.Status, t.Slot, t.LeaseId, t.Attempts)),
                Is.All.EqualTo((TaskStatuses.Completed, (int?)0, (Guid?)_lease, 1)), "each once, in slot 0, under lease L");
            for (var i = 1; i < chain.Count; i++)
            {
                Assert.That(chain[i].StartedAt, Is.GreaterThanOrEqualTo(chain[i].DispatchedAt!.Value), "started once dispatched");
                Assert.That(chain[i].DispatchedAt, Is.GreaterThanOrEqualTo(chain[i - 1].FinishedAt!.Value), "dispatched once the task before it ended");
            }

            // The other free slot was filled by the same decision, with an ExecuteTask and a lease of its own.
            Assert.That((a1.Status, a1.Slot, a1.StartedAt), Is.EqualTo((TaskStatuses.Running, (int?)1, (DateTimeOffset?)null)));
            Assert.That(executeTasks, Is.EqualTo(1), "only the task that did not go to the lease was sent");
            Assert.That(Guid.Parse(executeTaskLease), Is.EqualTo(a1.LeaseId).And.Not.EqualTo(_lease));

            Assert.That(await _runner.Scalar<int>($"SELECT used_this_month FROM users WHERE user_id = '{UserId}'"), Is.EqualTo(4));
            Assert.That(await _runner.Scalar<int>($"SELECT reserved FROM users WHERE user_id = '{UserId}'"), Is.EqualTo(1), "a1's reservation");
            var outbox = await _runner.Outbox();
            // A batch's first start here is announced, not every task's; the ends go to the sagas as one notice per batch.
            Assert.That(outbox.Count(t => t == nameof(TaskStarted)), Is.EqualTo(2), "one per batch");
            Assert.That(outbox, Does.Not.Contain(nameof(TaskCompleted)));
            Assert.That(_runner.Notices.Pending, Is.EquivalentTo(new[] { _a, _b }), "each batch's ends told once");
        });
    }

    [Test]
    public async Task Should_change_nothing_when_the_finished_lease_is_delivered_again()
    {
        await _runner.Run(Delivery()).WaitAsync(TimeSpan.FromSeconds(30));
        var before = (await _runner.Outbox()).Count;

        await _runner.Run(Delivery()).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Multiple(async () =>
        {
            Assert.That(_runner.Executor.Calls, Is.EqualTo(4), "nothing ran again");
            Assert.That((await _runner.Outbox()).Count, Is.EqualTo(before));
        });
    }

    [Test]
    public async Task Should_hand_nothing_over_while_the_host_stops()
    {
        _runner.StopHost();

        await _runner.Run(Delivery()).WaitAsync(TimeSpan.FromSeconds(30));
        var tasks = await Tasks();
        var dispatched = tasks.Values.Where(t => t.Status == TaskStatuses.Running).ToList();

        Assert.Multiple(async () =>
        {
            Assert.That(_runner.Executor.Ran, Is.EqualTo(new[] { _aTasks[0] }), "the delivery ends with its task");
            Assert.That(tasks[_aTasks[0]].Status, Is.EqualTo(TaskStatuses.Completed));
            // Still refilled by the same commit, but each with an ExecuteTask for a worker that is not stopping.
            Assert.That(dispatched.Select(t => t.TaskId), Is.EquivalentTo(new[] { _bTasks[0], _aTasks[1] }));
            Assert.That(dispatched.Select(t => t.StartedAt), Is.All.Null);
            Assert.That(dispatched.Select(t => t.LeaseId), Has.None.EqualTo(_lease));
            Assert.That(await _runner.Scalar<long>("SELECT count(*) FROM outbox_messages WHERE message_type LIKE '%ExecuteTask'"), Is.EqualTo(2));
        });
    }

    [Test]
    public async Task Should_take_over_the_task_a_redelivered_lease_carries()
    {
        // The worker that held lease L finished a0, was handed b0, started it and died; a1 holds slot 1 meanwhile.
        await _runner.Sql($"""
            UPDATE tasks SET status = 'completed', attempts = 1, started_at = now(), finished_at = now() WHERE task_id = '{_aTasks[0]}';
            UPDATE tasks SET status = 'running', slot = 0, lease_id = '{_lease}', attempts = 1, worker = 'dead-host:1', dispatched_at = now(), started_at = now()
                WHERE task_id = '{_bTasks[0]}';
            UPDATE tasks SET status = 'running', slot = 1, lease_id = '{Guid.CreateVersion7()}', dispatched_at = now() WHERE task_id = '{_aTasks[1]}';
            UPDATE batches SET last_turn = 3 WHERE batch_id = '{_a}';
            UPDATE batches SET last_turn = 2 WHERE batch_id = '{_b}';
            """);

        // RabbitMQ redelivers the ExecuteTask the dead worker held: it still names a0.
        await _runner.Run(Delivery(), redelivery: true).WaitAsync(TimeSpan.FromSeconds(30));
        var tasks = await Tasks();

        Assert.Multiple(() =>
        {
            Assert.That(_runner.Executor.Ran, Is.EqualTo(new[] { _bTasks[0], _bTasks[1], _aTasks[2] }), "b0 again, then on with the slot");
            Assert.That((tasks[_bTasks[0]].Status, tasks[_bTasks[0]].Attempts, tasks[_bTasks[0]].Worker),
                Is.EqualTo((TaskStatuses.Completed, 2, TaskRunner.WorkerName)), "the second attempt, here");
            Assert.That(tasks[_aTasks[0]].Attempts, Is.EqualTo(1), "the finished task is not run again");
        });
    }

    [Test]
    public async Task Should_leave_a_started_task_to_its_delivery_when_a_duplicate_arrives()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _runner.Executor.Script = async (request, _) =>
        {
            if (request.TaskId == _aTasks[0])
                await release.Task;
            return new JsonObject();
        };
        var first = _runner.Run(Delivery());
        await _runner.Executor.Started.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // The outbox published the ExecuteTask twice (at least once): the copy arrives, first-hand, while a0 runs.
        await _runner.Run(Delivery()).WaitAsync(TimeSpan.FromSeconds(30));
        var whileRunning = (await Tasks())[_aTasks[0]];
        release.SetResult();
        await first.WaitAsync(TimeSpan.FromSeconds(30));
        var tasks = await Tasks();
        var chain = new[] { _aTasks[0], _bTasks[0], _bTasks[1], _aTasks[2] };

        Assert.Multiple(() =>
        {
            Assert.That((whileRunning.Status, whileRunning.Attempts, whileRunning.Worker), Is.EqualTo((TaskStatuses.Running, 1, TaskRunner.WorkerName)),
                "the duplicate neither started a0 again nor ended it");
            Assert.That(_runner.Executor.Ran, Is.EqualTo(chain), "each task ran once, all under the first delivery");
            Assert.That(chain.Select(id => (tasks[id].Status, tasks[id].Attempts)), Is.All.EqualTo((TaskStatuses.Completed, 1)));
        });
    }

    [Test]
    public async Task Should_change_nothing_when_its_attempt_was_superseded_while_it_ran()
    {
        // While a0 runs, a redelivery of lease L takes it over (attempt 2, another worker), as after a broker hiccup.
        _runner.Executor.Script = async (request, _) =>
        {
            await _runner.Sql($"UPDATE tasks SET attempts = attempts + 1, worker = 'other:1', started_at = now() WHERE task_id = '{request.TaskId}'");
            return new JsonObject();
        };
        await _runner.Run(Delivery()).WaitAsync(TimeSpan.FromSeconds(30));
        var tasks = await Tasks();
        var a0 = tasks[_aTasks[0]];

        Assert.Multiple(async () =>
        {
            // The outcome's statement goes with the dispatch decision's first round trip and the quota's: when it finds
            // its attempt superseded, the whole transaction rolls back, and no decision is taken on its behalf.
            Assert.That(_runner.Executor.Ran, Is.EqualTo(new[] { _aTasks[0] }), "nothing was handed over");
            Assert.That((a0.Status, a0.Attempts, a0.Worker, a0.FinishedAt), Is.EqualTo((TaskStatuses.Running, 2, "other:1", (DateTimeOffset?)null)),
                "the attempt that replaced it is left alone");
            Assert.That(new[] { _aTasks[1], _aTasks[2], _bTasks[0], _bTasks[1] }.Select(id => tasks[id].Status), Is.All.EqualTo(TaskStatuses.Queued),
                "no slot was refilled");
            Assert.That(await _runner.Scalar<int>($"SELECT used_this_month FROM users WHERE user_id = '{UserId}'"), Is.EqualTo(0), "no usage");
            Assert.That(await _runner.Scalar<int>($"SELECT reserved FROM users WHERE user_id = '{UserId}'"), Is.EqualTo(5), "reservations kept");
            Assert.That(await _runner.Outbox(), Does.Not.Contain("ExecuteTask"));
            Assert.That(_runner.Notices.Pending, Is.Empty, "nothing ended, so nothing to tell");
        });
    }

    ExecuteTask Delivery() => new(_aTasks[0], _a, UserId, "starter", 0, 1, _lease, DateTimeOffset.UtcNow);

    Task<Dictionary<Guid, ResearchTask>> Tasks() =>
        _runner.Read(db => db.Tasks.AsNoTracking().Where(t => t.UserId == UserId).ToDictionaryAsync(t => t.TaskId));
}
