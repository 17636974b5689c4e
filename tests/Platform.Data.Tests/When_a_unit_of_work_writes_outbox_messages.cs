using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Platform.Contracts;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Outbox;
using Platform.Testing;

namespace Platform.Data.Tests;

[TestFixture]
public sealed class When_a_unit_of_work_writes_outbox_messages
{
    ServiceProvider _services = null!;

    [SetUp]
    public async Task CreateDatabase()
    {
        var connectionString = await LocalInfrastructure.CreateDatabase(nameof(When_a_unit_of_work_writes_outbox_messages));
        _services = new ServiceCollection().AddPlatformData(connectionString).BuildServiceProvider();
    }

    [TearDown]
    public Task Dispose() => _services.DisposeAsync().AsTask();

    [Test]
    public async Task Should_wake_the_relay_when_an_explicit_transaction_commits()
    {
        var signal = _services.GetRequiredService<OutboxSignal>();
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();

        await using (var tx = await db.Database.BeginTransactionAsync())
        {
            db.Publish(new UserTierChanged("u", "pro", false, DateTimeOffset.UtcNow));
            await db.SaveChangesAsync();
            Assert.That(await signal.WaitAsync(TimeSpan.Zero, CancellationToken.None), Is.False, "not before the commit: the row is not visible yet");
            await tx.CommitAsync();
        }

        Assert.That(await signal.WaitAsync(TimeSpan.Zero, CancellationToken.None), Is.True, "signalled by the commit");
    }

    [Test]
    public async Task Should_wake_the_relay_after_an_implicit_transaction()
    {
        var signal = _services.GetRequiredService<OutboxSignal>();
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();

        db.Publish(new UserTierChanged("u", "pro", false, DateTimeOffset.UtcNow));
        await db.SaveChangesAsync();

        Assert.That(await signal.WaitAsync(TimeSpan.Zero, CancellationToken.None), Is.True);
    }

    [Test]
    public async Task Should_not_wake_the_relay_for_a_rolled_back_transaction()
    {
        var signal = _services.GetRequiredService<OutboxSignal>();
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();

        await using (var tx = await db.Database.BeginTransactionAsync())
        {
            db.Publish(new UserTierChanged("u", "pro", false, DateTimeOffset.UtcNow));
            await db.SaveChangesAsync();
            await tx.RollbackAsync();
        }

        Assert.Multiple(async () =>
        {
            Assert.That(await signal.WaitAsync(TimeSpan.Zero, CancellationToken.None), Is.False);
            Assert.That(await db.OutboxMessages.CountAsync(), Is.Zero);
        });
    }

    [Test]
    public void Should_round_trip_a_contract_through_its_row()
    {
        var message = new TaskQueued(Guid.NewGuid(), Guid.NewGuid(), "user-1", "key-1", 2, DateTimeOffset.UtcNow);

        var (restored, type) = OutboxSerializer.FromOutbox(OutboxSerializer.ToOutbox(message));

        Assert.Multiple(() =>
        {
            Assert.That(type, Is.EqualTo(typeof(TaskQueued)));
            Assert.That(restored, Is.EqualTo(message));
        });
    }
}
