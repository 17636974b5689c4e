using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Platform.Contracts;
using Platform.Data.Model;
using Platform.Worker.Execution;
using Platform.Worker.Research;

namespace Platform.Cancellation.Tests.Runner;

/// <summary>
/// The worker's <see cref="TaskRunner"/> on a real database with a scripted executor: each way a cancellation can meet
/// an attempt (before its claim, during its run, at a transient failure) and the one that must not count as one (the
/// host stopping).
/// </summary>
[TestFixture]
public sealed class When_a_task_runner_meets_a_cancellation
{
    const string UserId = "runner-user";

    RunnerHarness _runner = null!;
    Guid _batchId;
    Guid _taskId;
    Guid _leaseId;

    [SetUp]
    public async Task DispatchOneTask()
    {
        _runner = await RunnerHarness.Start(TestContext.CurrentContext.Test.Name);
        _batchId = Guid.CreateVersion7();
        _taskId = Guid.CreateVersion7();
        _leaseId = Guid.CreateVersion7();
        // As intake and the dispatcher leave it: one task holding slot 0, its reservation counted.
        await Sql($$"""
            INSERT INTO users (user_id, tier, own_provider_key, api_key_hash, created_at, quota_month, used_this_month, reserved)
            VALUES ('{{UserId}}', 'starter', false, 'hash', now(), to_char(now(), 'YYYY-MM'), 0, 1);
            INSERT INTO batches (batch_id, user_id, name, instructions, total, created_at, open, last_turn, cancelling)
            VALUES ('{{_batchId}}', '{{UserId}}', 'one', 'Research {company}', 1, now(), false, 1, false);
            INSERT INTO tasks (task_id, batch_id, user_id, seq, key, input, status, attempts, slot, lease_id, queued_at, dispatched_at, counted)
            VALUES ('{{_taskId}}', '{{_batchId}}', '{{UserId}}', 0, 'task-0', '{"company": "Acme"}', 'running', 0, 0, '{{_leaseId}}', now(), now(), false);
            """);
    }

    [TearDown]
    public Task Dispose() => _runner.DisposeAsync().AsTask();

    [Test]
    public async Task Should_not_start_a_task_whose_batch_is_being_cancelled()
    {
        await RequestCancellation();

        await Run(CancellationToken.None);
        var task = await Row();

        Assert.Multiple(async () =>
        {
            Assert.That(_runner.Executor.Calls, Is.Zero, "the executor never ran");
            Assert.That((task.Status, task.StartedAt, task.Attempts), Is.EqualTo((TaskStatuses.Cancelled, (DateTimeOffset?)null, 0)));
            Assert.That(task.FinishedAt, Is.Not.Null);
            Assert.That(await Reserved(), Is.Zero);
            Assert.That(await Outbox(), Is.EqualTo(new[] { nameof(TaskCancelled) }), "no TaskStarted: it never started");
        });
    }

    [Test]
    public async Task Should_stop_a_running_task_when_its_batch_is_cancelled()
    {
        _runner.Executor.Script = async (_, token) =>
        {
            await Task.Delay(Timeout.Infinite, token);
            return [];
        };
        var running = Run(CancellationToken.None);
        await _runner.Executor.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        await RequestCancellation();
        var told = _runner.RunningTasks.CancelBatch(_batchId);
        await running.WaitAsync(TimeSpan.FromSeconds(10));
        var task = await Row();

        Assert.Multiple(async () =>
        {
            Assert.That(told, Is.EqualTo(1));
            Assert.That(task.Status, Is.EqualTo(TaskStatuses.Cancelled));
            Assert.That(task.StartedAt, Is.Not.Null, "it had started");
            Assert.That(await Reserved(), Is.Zero);
            Assert.That(await Outbox(), Is.EqualTo(new[] { nameof(TaskStarted), nameof(TaskCancelled) }));
            Assert.That(_runner.RunningTasks.Count, Is.Zero, "the attempt left the registry");
        });
    }

    [Test]
    public void Should_stop_an_attempt_registered_just_after_its_batch_was_cancelled()
    {
        // A task claimed before the cancellation committed, whose notification arrives before the runner registered it.
        var told = _runner.RunningTasks.CancelBatch(_batchId);
        using var late = _runner.RunningTasks.Register(_batchId);
        using var other = _runner.RunningTasks.Register(Guid.CreateVersion7());

        Assert.Multiple(() =>
        {
            Assert.That(told, Is.Zero, "nothing was registered yet");
            Assert.That(late.CancellationRequested, Is.True, "the cancellation is remembered for it");
            Assert.That(other.CancellationRequested, Is.False, "another batch's task runs on");
        });
    }

    [Test]
    public async Task Should_end_a_transient_failure_cancelled_rather_than_queue_it_again()
    {
        // The cancellation commits while the attempt runs, and its notification never arrives here.
        _runner.Executor.Script = async (_, _) =>
        {
            await RequestCancellation();
            throw new ResearchFailedException("provider timed out", transient: true);
        };

        await Run(CancellationToken.None);
        var task = await Row();
        var open = await Scalar<bool>($"SELECT open FROM batches WHERE batch_id = '{_batchId}'");

        Assert.Multiple(async () =>
        {
            Assert.That((task.Status, task.NotBefore), Is.EqualTo((TaskStatuses.Cancelled, (DateTimeOffset?)null)));
            Assert.That(open, Is.False, "the batch stays closed for dispatch");
            Assert.That(await Reserved(), Is.Zero);
            Assert.That(await Outbox(), Is.EqualTo(new[] { nameof(TaskStarted), nameof(TaskCancelled) }), "no TaskRetrying");
        });
    }

    [Test]
    public async Task Should_leave_the_task_running_when_the_host_stops()
    {
        _runner.Executor.Script = async (_, token) =>
        {
            await Task.Delay(Timeout.Infinite, token);
            return [];
        };
        using var stopping = new CancellationTokenSource();
        var running = Run(stopping.Token);
        await _runner.Executor.Started.Task.WaitAsync(TimeSpan.FromSeconds(10));

        await stopping.CancelAsync();
        var failure = await CatchAsync(running);
        var task = await Row();

        Assert.Multiple(async () =>
        {
            Assert.That(failure, Is.InstanceOf<OperationCanceledException>(), "the delivery is not acknowledged: it comes again");
            Assert.That(task.Status, Is.EqualTo(TaskStatuses.Running));
            Assert.That(await Reserved(), Is.EqualTo(1));
            Assert.That(await Outbox(), Is.EqualTo(new[] { nameof(TaskStarted) }), "no TaskCancelled");
        });
    }

    [Test]
    public async Task Should_complete_a_task_whose_batch_nobody_cancelled()
    {
        _runner.Executor.Script = (_, _) => Task.FromResult(new JsonObject { ["summary"] = "done" });

        await Run(CancellationToken.None);
        var task = await Row();

        Assert.Multiple(async () =>
        {
            Assert.That(task.Status, Is.EqualTo(TaskStatuses.Completed));
            Assert.That(await Outbox(), Is.EqualTo(new[] { nameof(TaskStarted) }), "the end goes to the saga as a notice, not through the outbox");
            Assert.That(_runner.Notices.Pending, Is.EqualTo(new[] { task.BatchId }));
        });
    }

    Task Run(CancellationToken cancellationToken) =>
        _runner.Run(new ExecuteTask(_taskId, _batchId, UserId, "starter", 0, 1, _leaseId, DateTimeOffset.UtcNow), cancellationToken: cancellationToken);

    Task RequestCancellation() =>
        Sql($"UPDATE batches SET cancel_requested_at = now(), cancelling = true, open = false WHERE batch_id = '{_batchId}'");

    Task<ResearchTask> Row() => _runner.Read(db => db.Tasks.AsNoTracking().SingleAsync(t => t.TaskId == _taskId));

    Task<int> Reserved() => Scalar<int>($"SELECT reserved FROM users WHERE user_id = '{UserId}'");

    Task<List<string>> Outbox() => _runner.Outbox();

    Task Sql(string sql) => _runner.Sql(sql);

    Task<T> Scalar<T>(string sql) => _runner.Scalar<T>(sql);

    static async Task<Exception?> CatchAsync(Task task)
    {
        try
        {
            await task.WaitAsync(TimeSpan.FromSeconds(10));
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }
}
