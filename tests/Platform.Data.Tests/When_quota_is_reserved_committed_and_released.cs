using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Platform.Data.Model;
using Platform.Testing;

namespace Platform.Data.Tests;

/// <summary>
/// <see cref="Quota"/> on real PostgreSQL, for a starter user (500 a month): what the users row says after each step of
/// a task's life, concurrent reservations that together would overshoot, and the first reservation of a new month.
/// </summary>
[TestFixture]
public sealed class When_quota_is_reserved_committed_and_released
{
    static readonly DateTimeOffset November = new(2026, 11, 23, 10, 0, 0, TimeSpan.Zero);
    ServiceProvider _services = null!;
    string _connectionString = null!;

    [OneTimeSetUp]
    public async Task CreateDatabase()
    {
        _connectionString = await LocalInfrastructure.CreateDatabase(nameof(When_quota_is_reserved_committed_and_released));
        _services = new ServiceCollection().AddPlatformData(_connectionString).BuildServiceProvider();
    }

    [OneTimeTearDown]
    public ValueTask DisposeServices() => _services.DisposeAsync();

    [Test]
    public async Task Reservation_becomes_usage_on_completion_and_is_given_back_on_failure_or_cancellation()
    {
        var userId = await NewUser(used: 0, reserved: 0, "2026-11");
        await InTransaction(db => Quota.TryReserve(db, userId, 5, 500, November, CancellationToken.None));
        Assert.That(await Row(userId), Is.EqualTo((0, 5, "2026-11")));

        await InTransaction(db => Quota.Commit(db, userId, November, CancellationToken.None));
        await InTransaction(db => Quota.Commit(db, userId, November, CancellationToken.None));
        Assert.That(await Row(userId), Is.EqualTo((2, 3, "2026-11")), "two completed: used 2, still reserved 3");

        await InTransaction(db => Quota.Release(db, userId, 2, CancellationToken.None));
        Assert.That(await Row(userId), Is.EqualTo((2, 1, "2026-11")), "two failed or cancelled: released, usage unchanged");

        await InTransaction(db => Quota.Release(db, userId, 5, CancellationToken.None));
        Assert.That(await Row(userId), Is.EqualTo((2, 0, "2026-11")), "a release never drives the reservation below zero");
    }

    [Test]
    public async Task A_reservation_that_does_not_fit_changes_nothing()
    {
        var userId = await NewUser(used: 490, reserved: 8, "2026-11");
        bool reserved = true;
        await InTransaction(async db => reserved = await Quota.TryReserve(db, userId, 3, 500, November, CancellationToken.None));
        Assert.That(reserved, Is.False, "490 used + 8 reserved + 3 > 500");
        Assert.That(await Row(userId), Is.EqualTo((490, 8, "2026-11")));

        await InTransaction(async db => reserved = await Quota.TryReserve(db, userId, 2, 500, November, CancellationToken.None));
        Assert.That(reserved, Is.True, "exactly 500 fits");
        Assert.That(await Row(userId), Is.EqualTo((490, 10, "2026-11")));
    }

    [Test]
    public async Task Concurrent_reservations_never_overshoot_the_quota()
    {
        var userId = await NewUser(used: 0, reserved: 0, "2026-11");
        // Twenty reservations of 30 race for 500: exactly 16 fit (480), whatever the interleaving.
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(async () =>
        {
            var ok = false;
            await InTransaction(async db => ok = await Quota.TryReserve(db, userId, 30, 500, November, CancellationToken.None));
            return ok;
        })));
        Assert.That(results.Count(r => r), Is.EqualTo(16));
        Assert.That(await Row(userId), Is.EqualTo((0, 480, "2026-11")));
    }

    [Test]
    public async Task A_new_month_starts_with_nothing_used_and_the_reservations_still_held()
    {
        // October's usage is spent; the 4 tasks still reserved are in flight and stay reserved.
        var userId = await NewUser(used: 500, reserved: 4, "2026-10");
        var reserved = false;
        await InTransaction(async db => reserved = await Quota.TryReserve(db, userId, 496, 500, November, CancellationToken.None));
        Assert.That(reserved, Is.True);
        Assert.That(await Row(userId), Is.EqualTo((0, 500, "2026-11")));

        // A task reserved in October that completes in December counts in December.
        var december = November.AddMonths(1);
        await InTransaction(db => Quota.Commit(db, userId, december, CancellationToken.None));
        Assert.That(await Row(userId), Is.EqualTo((1, 499, "2026-12")));
    }

    [Test]
    public async Task Provider_tokens_count_with_the_completion_and_start_again_with_the_month()
    {
        var userId = await NewUser(used: 0, reserved: 0, "2026-11");
        await InTransaction(db => Quota.TryReserve(db, userId, 3, 500, November, CancellationToken.None));
        await InTransaction(db => Execute(db, Quota.CommitStatement(userId, November, promptTokens: 120, completionTokens: 40)));
        await InTransaction(db => Execute(db, Quota.CommitStatement(userId, November, promptTokens: 80, completionTokens: 10)));
        Assert.That(await Tokens(userId), Is.EqualTo((200L, 50L)), "two completions' tokens");

        // December's first reservation starts the month's tokens at zero, like its usage.
        var december = November.AddMonths(1);
        await InTransaction(db => Quota.TryReserve(db, userId, 1, 500, december, CancellationToken.None));
        Assert.That(await Tokens(userId), Is.EqualTo((0L, 0L)), "the new month's first reservation");
        await InTransaction(db => Execute(db, Quota.CommitStatement(userId, december, promptTokens: 7, completionTokens: 3)));
        Assert.That(await Tokens(userId), Is.EqualTo((7L, 3L)));

        // A completion that is the month's first write starts it too.
        await InTransaction(db => Execute(db, Quota.CommitStatement(userId, december.AddMonths(1), promptTokens: 5, completionTokens: 1)));
        Assert.That(await Tokens(userId), Is.EqualTo((5L, 1L)), "January's first completion");
    }

    static async Task Execute(PlatformDbContext db, Npgsql.NpgsqlBatchCommand statement)
    {
        await using var batch = db.Batch(statement);
        await batch.ExecuteNonQueryAsync();
    }

    async Task<(long Prompt, long Completion)> Tokens(string userId)
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        var user = await db.Users.AsNoTracking().SingleAsync(u => u.UserId == userId);
        return (user.PromptTokensThisMonth, user.CompletionTokensThisMonth);
    }

    [Test]
    public async Task Unlimited_tiers_always_reserve()
    {
        var userId = await NewUser(used: 1_000_000, reserved: 0, "2026-11");
        var reserved = false;
        await InTransaction(async db => reserved = await Quota.TryReserve(db, userId, 50_000, null, November, CancellationToken.None));
        Assert.That(reserved, Is.True);
        Assert.That(await Row(userId), Is.EqualTo((1_000_000, 50_000, "2026-11")));
    }

    async Task<string> NewUser(int used, int reserved, string month)
    {
        var userId = "user-" + Guid.NewGuid().ToString("N")[..8];
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        db.Users.Add(new User
        {
            UserId = userId, Tier = "starter", ApiKeyHash = "hash-" + userId, CreatedAt = November,
            QuotaMonth = month, UsedThisMonth = used, Reserved = reserved,
        });
        await db.SaveChangesAsync();
        return userId;
    }

    async Task InTransaction(Func<PlatformDbContext, Task> work)
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        await using var tx = await db.Database.BeginTransactionAsync();
        await work(db);
        await tx.CommitAsync();
    }

    async Task<(int Used, int Reserved, string Month)> Row(string userId)
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        var user = await db.Users.AsNoTracking().SingleAsync(u => u.UserId == userId);
        return (user.UsedThisMonth, user.Reserved, user.QuotaMonth);
    }
}
