using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Platform.Data.Model;
using Platform.Testing;

namespace Platform.Data.Tests;

/// <summary>
/// <see cref="CredentialBudgets"/> on real PostgreSQL, a credential of 60 requests and 6,000 tokens a minute (1 and 100 a
/// second): a dispatch's reservation, the trailing minute draining between statements (the window's roll-over), the task's
/// end settling the estimate to the provider's count and learning limits, a 429's pause, and configured limits winning.
/// </summary>
[TestFixture]
public sealed class When_a_credential_budget_is_reserved_and_settled
{
    static readonly DateTimeOffset T0 = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);
    ServiceProvider _services = null!;

    [OneTimeSetUp]
    public async Task CreateDatabase()
    {
        var connectionString = await LocalInfrastructure.CreateDatabase(nameof(When_a_credential_budget_is_reserved_and_settled));
        _services = new ServiceCollection().AddPlatformData(connectionString).BuildServiceProvider();
    }

    [OneTimeTearDown]
    public ValueTask DisposeServices() => _services.DisposeAsync();

    [Test]
    public async Task Should_reserve_drain_and_settle_to_what_the_provider_counted()
    {
        var credential = Guid.NewGuid();
        await InTransaction(db => Execute(db, CredentialBudgets.ReserveStatement([(credential, 2, 3_000)], T0)));
        Assert.That(await Row(credential), Is.EqualTo((2.0, 3_000.0, (int?)null, (int?)null)), "a user key's first reservation creates its budget, limits unknown");

        // The first answer teaches the limits; 10 s later, the trailing minute has drained 10 requests and 1,000 tokens' worth.
        var task = await NewTask(credential, reserved: 1_500);
        await InTransaction(db => Execute(db, CredentialBudgets.SettleStatements(task, usedTokens: 300, heldTokens: 1_400, new ProviderLimits(60, 6_000), T0.AddSeconds(10))));
        // Unknown limits drain what is held within a minute: 10 s took a sixth (2 → 1.67, 3,000 → 2,500), then 1,500 reserved became 300.
        var (requests, tokens, rpm, tpm) = await Row(credential);
        Assert.Multiple(() =>
        {
            Assert.That(requests, Is.EqualTo(2 * 5.0 / 6).Within(1e-6));
            Assert.That(tokens, Is.EqualTo(2_500 - 1_500 + 300).Within(1e-6));
            Assert.That((rpm, tpm), Is.EqualTo(((int?)60, (int?)6_000)), "learned from the headers");
        });

        // Now at the learned rate: 5 s drain 5 requests (to 0) and 500 tokens.
        await InTransaction(db => Execute(db, CredentialBudgets.ReserveStatement([(credential, 1, 1_000)], T0.AddSeconds(15))));
        (requests, tokens, _, _) = await Row(credential);
        Assert.Multiple(() =>
        {
            Assert.That(requests, Is.EqualTo(1).Within(1e-6));
            Assert.That(tokens, Is.EqualTo(1_300 - 500 + 1_000).Within(1e-6));
        });
        Assert.That(await MeanTokens(task), Is.EqualTo(1_400), "the user's estimate starts at what its first call held");
    }

    [Test]
    public async Task Should_pause_on_a_rate_limit_and_give_the_tokens_back()
    {
        var credential = Guid.NewGuid();
        await InTransaction(db => Execute(db, CredentialBudgets.ReserveStatement([(credential, 1, 2_000)], T0)));
        var task = await NewTask(credential, reserved: 2_000);
        await InTransaction(db => Execute(db, CredentialBudgets.PauseStatement(task, T0.AddSeconds(7), new ProviderLimits(60, 6_000), T0)));

        await using var scope = _services.CreateAsyncScope();
        var budget = await scope.ServiceProvider.GetRequiredService<PlatformDbContext>().CredentialBudgets.AsNoTracking().SingleAsync(b => b.CredentialId == credential);
        Assert.Multiple(() =>
        {
            Assert.That(budget.PausedUntil, Is.EqualTo(T0.AddSeconds(7)));
            Assert.That(budget.Tokens, Is.Zero, "the provider took none of a refused call's tokens");
            Assert.That(budget.Requests, Is.EqualTo(1), "the request stays counted");
        });
    }

    [Test]
    public async Task Should_keep_configured_limits_over_what_the_headers_say()
    {
        await InTransaction(db => Execute(db, CredentialBudgets.ConfigureStatement(120, 20_000, "…abcd", T0)));
        await InTransaction(db => Execute(db, CredentialBudgets.ReserveStatement([(CredentialBudget.PlatformCredential, 1, 1_000)], T0)));
        var task = await NewTask(CredentialBudget.PlatformCredential, reserved: 1_000);
        await InTransaction(db => Execute(db, CredentialBudgets.SettleStatements(task, 500, 1_000, new ProviderLimits(500, 200_000), T0)));

        var (_, tokens, rpm, tpm) = await Row(CredentialBudget.PlatformCredential);
        Assert.Multiple(() =>
        {
            Assert.That((rpm, tpm), Is.EqualTo(((int?)120, (int?)20_000)));
            Assert.That(tokens, Is.EqualTo(500));
        });
    }

    async Task<Guid> NewTask(Guid credential, int reserved)
    {
        var userId = "user-" + Guid.NewGuid().ToString("N")[..8];
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        var batch = new Batch { BatchId = Guid.NewGuid(), UserId = userId, Name = "b", Instructions = "i", Total = 1, CreatedAt = T0 };
        var task = new ResearchTask
        {
            TaskId = Guid.NewGuid(), BatchId = batch.BatchId, UserId = userId, Key = "k", Input = "{}", Status = TaskStatuses.Completed,
            BudgetCredentialId = credential, ReservedTokens = reserved, QueuedAt = T0,
        };
        db.Users.Add(new User { UserId = userId, Tier = "pro", ApiKeyHash = "hash-" + userId, CreatedAt = T0, QuotaMonth = "2026-12" });
        db.Batches.Add(batch);
        db.Tasks.Add(task);
        db.UserShares.Add(new UserShare { UserId = userId, Ready = true });
        await db.SaveChangesAsync();
        return task.TaskId;
    }

    async Task<(double Requests, double Tokens, int? Rpm, int? Tpm)> Row(Guid credential)
    {
        await using var scope = _services.CreateAsyncScope();
        var b = await scope.ServiceProvider.GetRequiredService<PlatformDbContext>().CredentialBudgets.AsNoTracking().SingleAsync(x => x.CredentialId == credential);
        return (b.Requests, b.Tokens, b.Rpm, b.Tpm);
    }

    async Task<double?> MeanTokens(Guid task)
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        return await db.Tasks.Where(t => t.TaskId == task).Join(db.UserShares, t => t.UserId, s => s.UserId, (_, s) => s.MeanTokens).SingleAsync();
    }

    async Task InTransaction(Func<PlatformDbContext, Task> work)
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        await using var tx = await db.Database.BeginTransactionAsync();
        await work(db);
        await tx.CommitAsync();
    }

    static async Task Execute(PlatformDbContext db, params IEnumerable<Npgsql.NpgsqlBatchCommand> statements)
    {
        await using var batch = db.Batch([.. statements]);
        await batch.ExecuteNonQueryAsync();
    }
}
