using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Sagas;
using Platform.Orchestrator.Dispatch;
using Platform.Orchestrator.StateMachines;
using Platform.Testing;

namespace Platform.Orchestrator.Tests.StateMachines;

/// <summary>
/// Rows ended with no message at all (a worker that crashed between its commit and its BatchTasksEnded): the
/// reconciler's recount, on real PostgreSQL, asks the saga to count the batch once the delay has passed, and the
/// ledger's count from the rows then settles it.
/// </summary>
[TestFixture]
public sealed class When_tasks_end_and_their_batch_is_never_told
{
    static readonly TimeSpan RecountAfter = TimeSpan.FromSeconds(5);

    ServiceProvider _services = null!;
    DateTimeOffset _now;

    [SetUp]
    public async Task CreateDatabase()
    {
        var connectionString = await LocalInfrastructure.CreateDatabase(nameof(When_tasks_end_and_their_batch_is_never_told));
        var services = new ServiceCollection().AddPlatformData(connectionString);
        services.AddSingleton(TimeProvider.System);
        services.AddLogging();
        services.AddSingleton(Options.Create(new ReconcilerOptions { RecountAfter = RecountAfter }));
        services.AddScoped<UncountedTasks>();
        services.AddScoped<ITaskLedger, TaskRowLedger>();
        _services = services.BuildServiceProvider();
        _now = DateTimeOffset.UtcNow;
    }

    [TearDown]
    public Task Dispose() => _services.DisposeAsync().AsTask();

    [Test]
    public async Task Should_recount_each_batch_with_tasks_uncounted_too_long_once()
    {
        var silent = await Seed(ended: 30, endedAgo: TimeSpan.FromSeconds(20), queued: 5);
        var recent = await Seed(ended: 3, endedAgo: TimeSpan.FromSeconds(1), queued: 5);   // its notification may still come
        var counted = await Seed(ended: 4, endedAgo: TimeSpan.FromSeconds(20), queued: 0, alreadyCounted: true);

        var recounted = await Recount();

        var notifications = await Outbox("BatchTasksEnded");
        var perTask = await Outbox("TaskCompleted");
        Assert.Multiple(() =>
        {
            Assert.That(recounted, Is.EqualTo(1));
            Assert.That(notifications, Has.Count.EqualTo(1), "one notification for the batch, not one per task");
            Assert.That(notifications.Single(), Does.Contain(silent.ToString()));
            Assert.That(notifications, Has.None.Contains(recent.ToString()));
            Assert.That(notifications, Has.None.Contains(counted.ToString()));
            Assert.That(perTask, Is.Empty, "no per-task events any more");
        });
    }

    [Test]
    public async Task Should_leave_nothing_to_recount_once_the_saga_counted_the_batch()
    {
        var silent = await Seed(ended: 30, endedAgo: TimeSpan.FromSeconds(20), queued: 5);
        await Recount();

        // What the saga does with the notification, in its transaction.
        EndedTasks ended;
        await using (var scope = _services.CreateAsyncScope())
            ended = await scope.ServiceProvider.GetRequiredService<ITaskLedger>().CountBatch(silent, CancellationToken.None);
        EndedTasks again;
        await using (var scope = _services.CreateAsyncScope())
            again = await scope.ServiceProvider.GetRequiredService<ITaskLedger>().CountBatch(silent, CancellationToken.None);

        Assert.Multiple(async () =>
        {
            Assert.That(ended, Is.EqualTo(new EndedTasks(20, 5, 5)), "every ended row, by the status the row ended in");
            Assert.That(again, Is.EqualTo(EndedTasks.None), "a duplicate notification counts nothing");
            Assert.That(await Recount(), Is.Zero, "nothing uncounted is left to recount");
        });
    }

    [Test]
    public async Task Should_submit_a_batch_again_whose_saga_was_never_created()
    {
        var orphan = await Seed(ended: 2, endedAgo: TimeSpan.FromSeconds(20), queued: 0, withSaga: false);

        await Recount();

        var submitted = await Outbox("BatchSubmitted");
        var notifications = await Outbox("BatchTasksEnded");
        Assert.Multiple(() =>
        {
            Assert.That(submitted, Has.Count.EqualTo(1));
            Assert.That(submitted.Single(), Does.Contain(orphan.ToString()));
            Assert.That(notifications, Has.Count.EqualTo(1));
        });
    }

    async Task<int> Recount()
    {
        await using var scope = _services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<UncountedTasks>().Republish(CancellationToken.None);
    }

    async Task<List<string>> Outbox(string type)
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        return await db.OutboxMessages.Where(m => m.MessageType == "Platform.Contracts." + type).Select(m => m.Body).ToListAsync();
    }

    /// <summary>A batch whose <paramref name="ended"/> tasks ended in their rows (⅔ completed, the rest failed and cancelled) and no event was sent.</summary>
    async Task<Guid> Seed(int ended, TimeSpan endedAgo, int queued, bool alreadyCounted = false, bool withSaga = true)
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        var userId = $"user-{Guid.NewGuid():N}";
        db.Users.Add(new User { UserId = userId, Tier = "pro", ApiKeyHash = userId, QuotaMonth = "2026-12" });
        var batch = new Batch { BatchId = Guid.NewGuid(), UserId = userId, Name = "b", Instructions = "i", Total = ended + queued, CreatedAt = _now, Open = true };
        db.Batches.Add(batch);
        if (withSaga)
            db.BatchStates.Add(new BatchState { CorrelationId = batch.BatchId, CurrentState = "Running", UserId = userId, Total = batch.Total, SubmittedAt = _now, UpdatedAt = _now });
        for (var i = 0; i < ended + queued; i++)
        {
            var status = i >= ended ? TaskStatuses.Queued
                : i < ended * 2 / 3 ? TaskStatuses.Completed
                : i % 2 == 0 ? TaskStatuses.Failed : TaskStatuses.Cancelled;
            db.Tasks.Add(new ResearchTask
            {
                TaskId = Guid.NewGuid(), BatchId = batch.BatchId, UserId = userId, Seq = i, Key = $"k{i}", Input = "{}", QueuedAt = _now,
                Status = status, FinishedAt = i < ended ? _now - endedAgo : null, Counted = alreadyCounted && i < ended,
            });
        }

        await db.SaveChangesAsync();
        return batch.BatchId;
    }
}
