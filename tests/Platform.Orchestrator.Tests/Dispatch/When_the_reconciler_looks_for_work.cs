using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Tiers;
using Platform.Dispatch;
using Platform.Orchestrator.Dispatch;
using Platform.Orchestrator.StateMachines;
using Platform.Testing;

namespace Platform.Orchestrator.Tests.Dispatch;

/// <summary>
/// The reconciler on real PostgreSQL: a pass decides only for users who have both a free slot and a task whose time
/// has come, so its cost follows the work it can do, not the number of users waiting with full slots.
/// </summary>
[TestFixture]
public sealed class When_the_reconciler_looks_for_work
{
    static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    ServiceProvider _services = null!;

    [SetUp]
    public async Task CreateDatabase()
    {
        var connectionString = await LocalInfrastructure.CreateDatabase(nameof(When_the_reconciler_looks_for_work));
        var services = new ServiceCollection().AddPlatformData(connectionString);
        services.AddSingleton(TimeProvider.System);
        services.AddScoped<UserWorkQueue>();
        services.AddSingleton<DispatchGate>();
        services.AddLogging();
        services.AddOptions<TaskRunLimits>();
        services.AddOptions<ReconcilerOptions>();
        services.AddScoped<OverdueTasks>();
        services.AddScoped<UncountedTasks>();
        services.AddSingleton<IOptionsMonitor<TierOptions>>(new FixedTiers(new TierOptions
        {
            Tiers =
            {
                ["free"] = new Tier { Concurrency = 1 },
                ["starter"] = new Tier { Concurrency = 3 },
                ["pro"] = new Tier { Concurrency = 10, OwnKeyConcurrency = 20 },
            },
        }));
        _services = services.BuildServiceProvider();
    }

    [TearDown]
    public Task Dispose() => _services.DisposeAsync().AsTask();

    [Test]
    public async Task Should_decide_only_for_users_with_room_and_ready_work()
    {
        await Seed("full", "starter", running: 3, queued: 5);                   // no room
        await Seed("room", "starter", running: 1, queued: 5);                   // room for 2
        await Seed("waiting", "free", running: 0, queued: 2, notBefore: Now.AddMinutes(5)); // room, nothing ready yet
        await Seed("drained", "starter", running: 1, queued: 0);                 // room, nothing queued
        await Seed("own-key", "pro", running: 10, queued: 15, ownProviderKey: true); // pro with own key: 20 slots
        await Seed("retry-due", "free", running: 0, queued: 1, notBefore: Now.AddSeconds(-1)); // its retry time has come

        await using (var scope = _services.CreateAsyncScope())
        {
            // A fleet with room for every slot: this test is about who has room and work, not about the fleet.
            await WorkerRegistry.Report(scope.ServiceProvider.GetRequiredService<PlatformDbContext>(), "worker:1", 100, Now, stopping: false,
                CancellationToken.None);
        }

        var reconciler = new Reconciler(_services.GetRequiredService<IServiceScopeFactory>(),
            _services.GetRequiredService<IOptionsMonitor<TierOptions>>(), TimeProvider.System,
            Options.Create(new ReconcilerOptions()), Options.Create(new FleetOptions()), NullLogger<Reconciler>.Instance);
        var (users, dispatched) = await reconciler.ReconcileOnce(CancellationToken.None);

        var running = await Running();
        TestContext.Out.WriteLine($"decided for {users} of 6 users, dispatched {dispatched}; running per user: {string.Join(", ", running.Select(r => $"{r.Key}={r.Value}"))}");
        Assert.Multiple(() =>
        {
            Assert.That(running["full"], Is.EqualTo(3), "a user with full slots is left alone");
            Assert.That(running["room"], Is.EqualTo(3), "free slots are filled");
            Assert.That(running.GetValueOrDefault("waiting"), Is.Zero, "a retry waits for its time");
            Assert.That(running["drained"], Is.EqualTo(1));
            Assert.That(running["own-key"], Is.EqualTo(20), "the own-key concurrency applies");
            Assert.That(running["retry-due"], Is.EqualTo(1), "a retry whose time has come runs");
            Assert.That(dispatched, Is.EqualTo(2 + 10 + 1));
            Assert.That(users, Is.EqualTo(3), "decisions only for 'room', 'own-key' and 'retry-due'");
        });

        // A second pass finds nobody with room and ready work: it dispatches nothing.
        Assert.That(await reconciler.ReconcileOnce(CancellationToken.None), Is.EqualTo((0, 0)));
    }

    async Task Seed(string userId, string tier, int running, int queued, DateTimeOffset? notBefore = null, bool ownProviderKey = false)
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        db.Users.Add(new User { UserId = userId, Tier = tier, OwnProviderKey = ownProviderKey, ApiKeyHash = userId, QuotaMonth = "2026-11" });
        var batch = new Batch { BatchId = Guid.NewGuid(), UserId = userId, Name = "b", Instructions = "i", Total = running + queued, CreatedAt = Now, Open = true };
        db.Batches.Add(batch);
        for (var i = 0; i < running + queued; i++)
        {
            db.Tasks.Add(new ResearchTask
            {
                TaskId = Guid.NewGuid(), BatchId = batch.BatchId, UserId = userId, Seq = i, Key = $"k{i}", Input = "{}", QueuedAt = Now,
                Status = i < running ? TaskStatuses.Running : TaskStatuses.Queued,
                Slot = i < running ? i : null,
                NotBefore = i < running ? null : notBefore,
            });
        }

        await db.SaveChangesAsync();
    }

    async Task<Dictionary<string, int>> Running()
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        return await db.Tasks.Where(t => t.Status == TaskStatuses.Running).GroupBy(t => t.UserId)
            .ToDictionaryAsync(g => g.Key, g => g.Count());
    }

    sealed class FixedTiers(TierOptions value) : IOptionsMonitor<TierOptions>
    {
        public TierOptions CurrentValue => value;
        public TierOptions Get(string? name) => value;
        public IDisposable? OnChange(Action<TierOptions, string?> listener) => null;
    }
}
