using MassTransit;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Platform.Contracts;
using Platform.Data.Model;
using Platform.Data.Outbox;
using Platform.Testing;

namespace Platform.Data.Tests;

/// <summary>
/// Intake commits a batch and its notifications, then dies before publishing anything. Nothing may be stranded: the
/// rows wait in the outbox, and whichever process's relay runs next publishes them, oldest first.
/// </summary>
[TestFixture]
public sealed class When_a_writer_dies_between_commit_and_publish
{
    [Test]
    public async Task Should_publish_every_committed_message_from_another_process_relay()
    {
        var connectionString = await LocalInfrastructure.CreateDatabase(nameof(When_a_writer_dies_between_commit_and_publish));
        var batchId = Guid.NewGuid();
        var taskIds = Enumerable.Range(0, 300).Select(_ => Guid.NewGuid()).ToList();

        // The writer: no relay in its process, and it is gone once this block ends.
        await using (var writer = new ServiceCollection().AddPlatformData(connectionString).BuildServiceProvider())
        {
            await using var scope = writer.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
            await using var tx = await db.Database.BeginTransactionAsync();
            db.Publish(new BatchSubmitted(batchId, "user-1", "survivor", taskIds.Count, DateTimeOffset.UtcNow));
            await db.SaveChangesAsync();
            foreach (var (id, i) in taskIds.Select((id, i) => (id, i)))
                db.Publish(new TaskQueued(id, batchId, "user-1", $"k{i}", 1, DateTimeOffset.UtcNow));
            await db.SaveChangesAsync();
            await tx.CommitAsync();
        }

        await using var other = new ServiceCollection().AddPlatformData(connectionString).AddMassTransitTestHarness().BuildServiceProvider(true);
        var harness = other.GetTestHarness();
        await harness.Start();
        var relay = ActivatorUtilities.CreateInstance<OutboxRelay>(other);

        var firstRound = await relay.RelayOnce(CancellationToken.None);
        var submittedInFirstRound = await harness.Published.Any<BatchSubmitted>(m => m.Context.Message.BatchId == batchId);
        var total = firstRound;
        int relayed;
        while ((relayed = await relay.RelayOnce(CancellationToken.None)) > 0)
            total += relayed;

        await using var check = other.CreateAsyncScope();
        var left = await check.ServiceProvider.GetRequiredService<PlatformDbContext>().OutboxMessages.CountAsync();
        var queued = harness.Published.Select<TaskQueued>().Select(m => m.Context.Message.TaskId).Distinct().Count();

        Assert.Multiple(() =>
        {
            Assert.That(firstRound, Is.EqualTo(OutboxRelay.BatchSize), "a full round");
            Assert.That(submittedInFirstRound, Is.True, "the oldest row went out in the first round");
            Assert.That(total, Is.EqualTo(taskIds.Count + 1), "every committed message was published");
            Assert.That(queued, Is.EqualTo(taskIds.Count), "one TaskQueued per task");
            Assert.That(left, Is.Zero, "published rows leave the outbox");
        });
    }
}
