using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Platform.Data.Cancellation;
using Platform.Data.Model;
using Platform.Testing;
using static Platform.Data.Tests.Cancellation.CancellationRows;

namespace Platform.Data.Tests.Cancellation;

/// <summary>
/// <see cref="BatchCancellation.Request"/> on real PostgreSQL: a batch with a running task, two queued ones, one waiting
/// for its retry and one completed. The transitions, the quota and the outbox rows are all in the rows.
/// </summary>
[TestFixture]
public sealed class When_a_batch_cancellation_is_requested
{
    const string Owner = "owner";
    static readonly DateTimeOffset Now = Start.AddMinutes(5);

    ServiceProvider _services = null!;
    AsyncServiceScope _scope;
    PlatformDbContext _db = null!;
    Guid _batchId;
    ResearchTask _running = null!, _queued = null!, _retrying = null!, _completed = null!, _last = null!;
    CancelOutcome _first = null!;

    [SetUp]
    public async Task RequestOnce()
    {
        _services = new ServiceCollection().AddPlatformData(await LocalInfrastructure.CreateDatabase(nameof(When_a_batch_cancellation_is_requested)))
            .BuildServiceProvider();
        _scope = _services.CreateAsyncScope();
        _db = _scope.ServiceProvider.GetRequiredService<PlatformDbContext>();

        _batchId = Guid.CreateVersion7();
        _running = NewTask(_batchId, Owner, 0, TaskStatuses.Running, slot: 0, started: true);
        _queued = NewTask(_batchId, Owner, 1, TaskStatuses.Queued);
        _retrying = NewTask(_batchId, Owner, 2, TaskStatuses.Queued, started: true, notBefore: Now.AddSeconds(30));
        _completed = NewTask(_batchId, Owner, 3, TaskStatuses.Completed, slot: 1, started: true);
        _last = NewTask(_batchId, Owner, 4, TaskStatuses.Queued);
        // Four tasks not yet terminal hold a reservation; the completed one is usage.
        _db.Users.AddRange(NewUser(Owner, reserved: 4, used: 1), NewUser("stranger", reserved: 0));
        _db.Batches.Add(NewBatch(_batchId, Owner, total: 5));
        _db.Tasks.AddRange(_running, _queued, _retrying, _completed, _last);
        await _db.SaveChangesAsync();
        _db.ChangeTracker.Clear();

        _first = await BatchCancellation.Request(_db, _batchId, Owner, Now, CancellationToken.None);
    }

    [TearDown]
    public async Task Dispose()
    {
        await _scope.DisposeAsync();
        await _services.DisposeAsync();
    }

    [Test]
    public async Task Should_end_the_queued_tasks_and_those_waiting_for_a_retry_without_starting_them()
    {
        var rows = await _db.Tasks.AsNoTracking().ToDictionaryAsync(t => t.TaskId);

        Assert.Multiple(() =>
        {
            Assert.That(_first, Is.EqualTo(new CancelOutcome.Requested(_batchId, 3)));
            foreach (var task in new[] { _queued, _retrying, _last })
            {
                Assert.That(rows[task.TaskId].Status, Is.EqualTo(TaskStatuses.Cancelled), task.Key);
                Assert.That(rows[task.TaskId].FinishedAt, Is.EqualTo(Now), task.Key);
                Assert.That(rows[task.TaskId].Attempts, Is.EqualTo(task.Attempts), $"{task.Key} did not start again");
            }

            Assert.That(rows[_running.TaskId].Status, Is.EqualTo(TaskStatuses.Running), "a running task is the workers' to stop");
            Assert.That(rows[_completed.TaskId].Status, Is.EqualTo(TaskStatuses.Completed));
        });
    }

    [Test]
    public async Task Should_close_the_batch_for_dispatch_and_mark_it()
    {
        var batch = await _db.Batches.AsNoTracking().SingleAsync(b => b.BatchId == _batchId);

        Assert.Multiple(() =>
        {
            Assert.That(batch.CancelRequestedAt, Is.EqualTo(Now));
            Assert.That(batch.Cancelling, Is.True, "the reconciler's backstop watches it until its running task has ended");
            Assert.That(batch.Open, Is.False);
        });
    }

    [Test]
    public async Task Should_release_the_cancelled_tasks_reservations_and_never_touch_usage()
    {
        var user = await _db.Users.AsNoTracking().SingleAsync(u => u.UserId == Owner);

        Assert.That((user.Reserved, user.UsedThisMonth), Is.EqualTo((1, 1)), "only the running task keeps its reservation");
    }

    [Test]
    public async Task Should_write_one_notification_for_the_workers_and_the_saga_and_nothing_per_task()
    {
        var outbox = await OutboxRows(_db);

        // The saga counts the queued tasks from their rows when it hears the request: no TaskCancelled per task.
        Assert.That(outbox.Select(m => m.Type), Is.EqualTo(new[] { "BatchCancellationRequested" }));
    }

    [Test]
    public async Task Should_change_nothing_when_asked_again()
    {
        var again = await BatchCancellation.Request(_db, _batchId, Owner, Now.AddSeconds(1), CancellationToken.None);
        var user = await _db.Users.AsNoTracking().SingleAsync(u => u.UserId == Owner);
        var batch = await _db.Batches.AsNoTracking().SingleAsync(b => b.BatchId == _batchId);

        Assert.Multiple(async () =>
        {
            Assert.That(again, Is.EqualTo(new CancelOutcome.AlreadyRequested(_batchId, Now)));
            Assert.That(batch.CancelRequestedAt, Is.EqualTo(Now), "the first request's time stays");
            Assert.That(user.Reserved, Is.EqualTo(1));
            Assert.That(await _db.OutboxMessages.CountAsync(), Is.EqualTo(1), "no second notification");
        });
    }

    [Test]
    public async Task Should_not_find_another_user_s_batch_nor_an_unknown_one()
    {
        var stranger = await BatchCancellation.Request(_db, _batchId, "stranger", Now, CancellationToken.None);
        var unknown = await BatchCancellation.Request(_db, Guid.CreateVersion7(), Owner, Now, CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(stranger, Is.InstanceOf<CancelOutcome.NotFound>());
            Assert.That(unknown, Is.InstanceOf<CancelOutcome.NotFound>());
        });
    }

    [Test]
    public async Task Should_leave_the_running_task_to_the_workers_until_the_grace_period_has_passed()
    {
        var early = await BatchCancellation.EndOverdue(_db, requestedBefore: Now.AddSeconds(-1), Now.AddSeconds(2), 100, CancellationToken.None);
        var running = await _db.Tasks.AsNoTracking().SingleAsync(t => t.TaskId == _running.TaskId);

        Assert.Multiple(() =>
        {
            Assert.That(early, Is.Empty);
            Assert.That(running.Status, Is.EqualTo(TaskStatuses.Running));
        });
    }

    [Test]
    public async Task Should_end_a_task_still_running_after_the_grace_period_once()
    {
        var overdue = await BatchCancellation.EndOverdue(_db, requestedBefore: Now, Now.AddSeconds(3), 100, CancellationToken.None);
        var again = await BatchCancellation.EndOverdue(_db, requestedBefore: Now.AddSeconds(10), Now.AddSeconds(10), 100, CancellationToken.None);
        var running = await _db.Tasks.AsNoTracking().SingleAsync(t => t.TaskId == _running.TaskId);
        var batch = await _db.Batches.AsNoTracking().SingleAsync(b => b.BatchId == _batchId);
        var user = await _db.Users.AsNoTracking().SingleAsync(u => u.UserId == Owner);
        var outbox = await OutboxRows(_db);

        Assert.Multiple(() =>
        {
            Assert.That(overdue, Is.EqualTo(new[] { new CancelledTask(_running.TaskId, _batchId, Owner, 0) }));
            Assert.That(again, Is.Empty, "settled: the batch is not looked at again");
            Assert.That((running.Status, running.FinishedAt), Is.EqualTo((TaskStatuses.Cancelled, (DateTimeOffset?)Now.AddSeconds(3))));
            Assert.That(batch.Cancelling, Is.False);
            Assert.That((user.Reserved, user.UsedThisMonth), Is.EqualTo((0, 1)));
            Assert.That(outbox.Count(m => m.Type == "TaskCancelled" && m.Body.Contains(_running.TaskId.ToString(), StringComparison.Ordinal)), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Should_not_end_a_running_task_of_a_batch_nobody_cancelled()
    {
        var otherBatch = Guid.CreateVersion7();
        var task = NewTask(otherBatch, Owner, 0, TaskStatuses.Running, slot: 2, started: true);
        _db.Batches.Add(NewBatch(otherBatch, Owner, total: 1));
        _db.Tasks.Add(task);
        await _db.SaveChangesAsync();

        await using var tx = await _db.Database.BeginTransactionAsync();
        var ended = await BatchCancellation.EndRunningTasks(_db, [task.TaskId, _running.TaskId], Now, CancellationToken.None);
        await _db.SaveChangesAsync();
        await tx.CommitAsync();
        var row = await _db.Tasks.AsNoTracking().SingleAsync(t => t.TaskId == task.TaskId);

        Assert.Multiple(() =>
        {
            Assert.That(ended.Select(t => t.TaskId), Is.EqualTo(new[] { _running.TaskId }), "only the task of the cancelled batch");
            Assert.That(row.Status, Is.EqualTo(TaskStatuses.Running));
        });
    }
}

/// <summary>A batch whose every task had ended cannot be cancelled: the answer names how it ended, and nothing changes.</summary>
[TestFixture]
public sealed class When_a_finished_batch_is_asked_to_cancel
{
    [TestCase(TaskStatuses.Completed, BatchStatuses.Completed)]
    [TestCase(TaskStatuses.Failed, BatchStatuses.CompletedWithFailures)]
    public async Task Should_refuse_naming_the_batch_s_status(string secondTask, string expected)
    {
        await using var services = new ServiceCollection()
            .AddPlatformData(await LocalInfrastructure.CreateDatabase(nameof(When_a_finished_batch_is_asked_to_cancel) + secondTask))
            .BuildServiceProvider();
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        var batchId = Guid.CreateVersion7();
        db.Users.Add(NewUser("owner", reserved: 0, used: 2));
        db.Batches.Add(NewBatch(batchId, "owner", total: 2));
        db.Tasks.AddRange(NewTask(batchId, "owner", 0, TaskStatuses.Completed, started: true), NewTask(batchId, "owner", 1, secondTask, started: true));
        await db.SaveChangesAsync();

        var outcome = await BatchCancellation.Request(db, batchId, "owner", Start.AddMinutes(1), CancellationToken.None);
        var batch = await db.Batches.AsNoTracking().SingleAsync(b => b.BatchId == batchId);

        Assert.Multiple(async () =>
        {
            Assert.That(outcome, Is.EqualTo(new CancelOutcome.AlreadyFinished(batchId, expected)));
            Assert.That(batch.CancelRequestedAt, Is.Null);
            Assert.That(await db.OutboxMessages.CountAsync(), Is.Zero);
        });
    }
}
