using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Platform.Contracts;
using Platform.Data.Model;
using Platform.Testing;
using Platform.Worker.Execution;

namespace Platform.Cancellation.Tests.Runner;

/// <summary>
/// <see cref="TaskEnds"/>' fallback, on a real database: two ends recorded in one group, one of them by an attempt that
/// was superseded while it ran. The group's transaction rolls back whole, then each end is recorded on its own: the
/// valid one ends its task and charges its quota once, the superseded one changes nothing.
/// </summary>
/// <remarks>
/// Three of a starter user's tasks run at once: c0 ends first, and its group waits for the user's row, which the test
/// holds locked; meanwhile a0 (taken over by another worker while it ran) and a1 end, and meet in the next group.
/// </remarks>
[TestFixture]
public sealed class When_task_ends_meet_in_one_group
{
    const string UserId = "group-user";

    RunnerHarness _runner = null!;
    readonly Guid _batch = Guid.CreateVersion7();
    readonly Guid _a0 = Guid.CreateVersion7(), _a1 = Guid.CreateVersion7(), _c0 = Guid.CreateVersion7();
    readonly Dictionary<Guid, (int Slot, Guid Lease)> _running = [];
    readonly ConcurrentQueue<int> _groups = new();
    ActivityListener _listener = null!;

    [SetUp]
    public async Task RunThreeTasks()
    {
        _runner = await RunnerHarness.Start(TestContext.CurrentContext.Test.Name, starterConcurrency: 3);
        _running[_c0] = (0, Guid.CreateVersion7());
        _running[_a0] = (1, Guid.CreateVersion7());
        _running[_a1] = (2, Guid.CreateVersion7());
        var rows = string.Join(",\n", _running.Select((r, i) =>
            $$"""('{{r.Key}}', '{{_batch}}', '{{UserId}}', {{i}}, 'k{{i}}', '{"company": "c{{i}}"}', 'running', 0, {{r.Value.Slot}}, '{{r.Value.Lease}}', now(), now(), false)"""));
        await _runner.Sql($$"""
            INSERT INTO users (user_id, tier, own_provider_key, api_key_hash, created_at, quota_month, used_this_month, reserved)
            VALUES ('{{UserId}}', 'starter', false, 'hash', now(), to_char(now(), 'YYYY-MM'), 0, 3);
            INSERT INTO user_shares (user_id, virtual_time, mean_seconds, ready) VALUES ('{{UserId}}', 0, 1, false);
            INSERT INTO batches (batch_id, user_id, name, instructions, total, created_at, open, last_turn, cancelling)
            VALUES ('{{_batch}}', '{{UserId}}', 'A', 'Research {company}', 3, now(), true, 0, false);
            INSERT INTO tasks (task_id, batch_id, user_id, seq, key, input, status, attempts, slot, lease_id, queued_at, dispatched_at, counted) VALUES
            {{rows}};
            """);

        // Each group's transaction is one "record task ends" span, tagged with the group's size.
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == WorkerTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = activity =>
            {
                if (activity.OperationName == "record task ends" && activity.GetTagItem("platform.task_ends") is int size)
                    _groups.Enqueue(size);
            },
        };
        ActivitySource.AddActivityListener(_listener);
    }

    [TearDown]
    public async Task Dispose()
    {
        _listener.Dispose();
        await _runner.DisposeAsync();
    }

    [Test]
    public async Task Should_record_the_valid_end_and_leave_the_superseded_attempt_alone()
    {
        var entered = _running.Keys.ToDictionary(id => id, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var finish = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _runner.Executor.Script = async (request, _) =>
        {
            entered[request.TaskId].TrySetResult();
            if (request.TaskId == _c0)
                return new JsonObject();
            await finish.Task;
            // While a0 ran, a redelivery of its lease took it over on another worker (attempt 2).
            if (request.TaskId == _a0)
                await _runner.Sql($"UPDATE tasks SET attempts = attempts + 1, worker = 'other:1', started_at = now() WHERE task_id = '{_a0}'");
            return new JsonObject();
        };

        await using var holder = new NpgsqlConnection(_runner.Database);
        await holder.OpenAsync();
        await using var hold = await holder.BeginTransactionAsync();
        await using (var lockUser = new NpgsqlCommand($"SELECT 1 FROM users WHERE user_id = '{UserId}' FOR UPDATE", holder, hold))
            await lockUser.ExecuteNonQueryAsync();

        // One at a time into the executor (the scripted executor counts its calls without a lock).
        var runs = new List<Task> { _runner.Run(Delivery(_c0)) };
        await entered[_c0].Task.WaitAsync(TimeSpan.FromSeconds(30));
        await Poll.Until(() => _runner.Scalar<long>(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"),
            waiting => waiting == 1, TimeSpan.FromSeconds(30), "c0's group to wait for the user's row");
        foreach (var id in new[] { _a0, _a1 })
        {
            runs.Add(_runner.Run(Delivery(id)));
            await entered[id].Task.WaitAsync(TimeSpan.FromSeconds(30));
        }

        finish.SetResult();
        // a0's and a1's runners hand their ends over within microseconds of their executor returning; a second is plenty.
        await Task.Delay(TimeSpan.FromSeconds(1));
        await hold.CommitAsync();
        await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(30));

        var tasks = await _runner.Read(db => db.Tasks.AsNoTracking().Where(t => t.UserId == UserId).ToDictionaryAsync(t => t.TaskId));
        Assert.Multiple(async () =>
        {
            Assert.That(_groups, Is.EqualTo(new[] { 1, 2, 1, 1 }), "c0 alone, then a0 with a1, rolled back and recorded one by one");
            Assert.That((tasks[_c0].Status, tasks[_c0].Attempts), Is.EqualTo((TaskStatuses.Completed, 1)));
            Assert.That((tasks[_a1].Status, tasks[_a1].Attempts), Is.EqualTo((TaskStatuses.Completed, 1)), "the valid end of the failed group");
            Assert.That((tasks[_a0].Status, tasks[_a0].Attempts, tasks[_a0].Worker, tasks[_a0].FinishedAt),
                Is.EqualTo((TaskStatuses.Running, 2, "other:1", (DateTimeOffset?)null)), "the attempt that replaced a0 is left alone");
            Assert.That(await _runner.Scalar<int>($"SELECT used_this_month FROM users WHERE user_id = '{UserId}'"), Is.EqualTo(2), "c0 and a1, each once");
            Assert.That(await _runner.Scalar<int>($"SELECT reserved FROM users WHERE user_id = '{UserId}'"), Is.EqualTo(1), "a0's reservation, kept by its new attempt");
            Assert.That(_runner.Notices.Pending, Is.EqualTo(new[] { _batch }), "the batch's ends to tell");
        });
    }

    ExecuteTask Delivery(Guid taskId) => new(taskId, _batch, UserId, "starter", _running[taskId].Slot, 1, _running[taskId].Lease, DateTimeOffset.UtcNow);
}
