using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Platform.Data.Model;
using Platform.Data.Tiers;
using Platform.Dispatch;
using Platform.Testing;
using static Platform.Data.Tests.Cancellation.CancellationRows;

namespace Platform.Data.Tests.Cancellation;

/// <summary>
/// The user work queue never dispatches a task of a batch whose cancellation was requested, even one left open and
/// with queued tasks (a state no code path writes: the rule is the column, not the flag).
/// </summary>
[TestFixture]
public sealed class When_the_dispatcher_meets_a_cancelled_batch
{
    [Test]
    public async Task Should_dispatch_only_from_the_batch_nobody_cancelled()
    {
        await using var services = new ServiceCollection()
            .AddPlatformData(await LocalInfrastructure.CreateDatabase(nameof(When_the_dispatcher_meets_a_cancelled_batch)))
            .AddSingleton(TimeProvider.System)
            .Configure<TierOptions>(o => o.Tiers["starter"] = new Tier { Concurrency = 3, MonthlyQuota = 500 })
            .AddScoped<UserWorkQueue>()
            .BuildServiceProvider();
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();

        var cancelled = Guid.CreateVersion7();
        var kept = Guid.CreateVersion7();
        var cancelledBatch = NewBatch(cancelled, "owner", total: 3);
        cancelledBatch.CancelRequestedAt = Start;
        db.Users.Add(NewUser("owner", reserved: 4));
        db.Batches.AddRange(cancelledBatch, NewBatch(kept, "owner", total: 1));
        db.Tasks.AddRange(Enumerable.Range(0, 3).Select(i => NewTask(cancelled, "owner", i, TaskStatuses.Queued)));
        db.Tasks.Add(NewTask(kept, "owner", 0, TaskStatuses.Queued));
        await db.SaveChangesAsync();
        await WorkerRegistry.Report(db, "worker:1", 16, Start, stopping: false, CancellationToken.None);

        var dispatched = await scope.ServiceProvider.GetRequiredService<UserWorkQueue>().FillSlots("owner", CancellationToken.None);
        var running = await db.Tasks.AsNoTracking().Where(t => t.Status == TaskStatuses.Running).Select(t => t.BatchId).ToListAsync();
        var executeTasks = await db.OutboxMessages.AsNoTracking().CountAsync(m => m.MessageType.EndsWith(".ExecuteTask"));

        Assert.Multiple(() =>
        {
            Assert.That(dispatched, Is.EqualTo(1), "two of the three slots stay free rather than run a cancelled batch's tasks");
            Assert.That(running, Is.EqualTo(new[] { kept }));
            Assert.That(executeTasks, Is.EqualTo(1));
        });
    }
}
