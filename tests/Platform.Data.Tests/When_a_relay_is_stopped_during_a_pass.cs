using MassTransit;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Platform.Contracts;
using Platform.Data.Outbox;
using Platform.Testing;

namespace Platform.Data.Tests;

/// <summary>
/// The host stops (SIGTERM) while its relay is publishing a pass of rows. The pass runs to its end: every row it
/// published is deleted, so no other relay publishes it a second time (a worker that stopped gracefully used to leave
/// its last ExecuteTask behind, and the copy another relay sent started the task twice).
/// </summary>
[TestFixture]
public sealed class When_a_relay_is_stopped_during_a_pass
{
    const int Rows = 20;

    [Test]
    public async Task Should_delete_every_row_it_published_before_it_stops()
    {
        var connectionString = await LocalInfrastructure.CreateDatabase(nameof(When_a_relay_is_stopped_during_a_pass));
        await using var services = new ServiceCollection().AddPlatformData(connectionString).AddMassTransitTestHarness().BuildServiceProvider(true);
        await using (var scope = services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
            await using var tx = await db.Database.BeginTransactionAsync();
            for (var i = 0; i < Rows; i++)
                db.Publish(new TaskQueued(Guid.NewGuid(), Guid.NewGuid(), "user-1", $"k{i}", 1, DateTimeOffset.UtcNow));
            await db.SaveChangesAsync();
            await tx.CommitAsync();
        }

        var harness = services.GetTestHarness();
        await harness.Start();
        var relay = ActivatorUtilities.CreateInstance<OutboxRelay>(services);
        var stopped = new TaskCompletionSource<Task>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var observer = harness.Bus.ConnectPublishObserver(new StopOnFirstPublish(() => stopped.TrySetResult(Task.Run(() => relay.StopAsync(CancellationToken.None)))));

        await relay.StartAsync(CancellationToken.None);
        await (await stopped.Task.WaitAsync(TimeSpan.FromSeconds(30))).WaitAsync(TimeSpan.FromSeconds(30));

        await using var check = services.CreateAsyncScope();
        var left = await check.ServiceProvider.GetRequiredService<PlatformDbContext>().OutboxMessages.CountAsync();
        var published = harness.Published.Select<TaskQueued>().Count();

        Assert.Multiple(() =>
        {
            Assert.That(published, Is.EqualTo(Rows), "the pass the stop interrupted published all its rows");
            Assert.That(left, Is.Zero, "and deleted them: nothing is left for another relay to publish again");
        });
    }

    sealed class StopOnFirstPublish(Action stop) : IPublishObserver
    {
        int _published;

        public Task PrePublish<T>(PublishContext<T> context) where T : class => Task.CompletedTask;

        public Task PostPublish<T>(PublishContext<T> context) where T : class
        {
            if (Interlocked.Increment(ref _published) == 1)
                stop();
            return Task.CompletedTask;
        }

        public Task PublishFault<T>(PublishContext<T> context, Exception exception) where T : class => Task.CompletedTask;
    }
}
