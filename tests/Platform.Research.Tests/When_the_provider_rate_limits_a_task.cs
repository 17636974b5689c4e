using Platform.Testing;

namespace Platform.Research.Tests;

/// <summary>
/// A 429 <c>rate_limit_exceeded</c> is transient: the task goes back to the queue with <c>not_before</c> at the provider's
/// hint (Retry-After: 2), and the retry starts no earlier than the hint. The 429 also pauses the platform's credential
/// until then (DESIGN.md invariant 9): no other call goes to the provider meanwhile, but the slot is free, so the user's
/// simulated task, which needs no provider, runs in it.
/// </summary>
[TestFixture]
public sealed class When_the_provider_rate_limits_a_task
{
    static readonly TimeSpan Hint = TimeSpan.FromSeconds(2);

    ProviderCluster _cluster = null!;
    HttpClient _user = null!;
    Guid _batchId;

    [OneTimeSetUp]
    public async Task SubmitAndWait()
    {
        _cluster = await ProviderCluster.Start(nameof(When_the_provider_rate_limits_a_task));
        // The first call is answered 429 with Retry-After: 2 (and retry-after-ms: 2000).
        await _cluster.StandIn.InjectFault(status: 429, retryAfterMs: (int)Hint.TotalMilliseconds);
        _user = await _cluster.Platform.CreateUser("limited-user", "free"); // one slot: who holds it is plain
        _batchId = await PlatformCluster.SubmitBatch(_user, "rate limited",
            [new { company = "first" }, new { company = "second", simulate = new { durationMs = 200 } }, new { company = "third" }]);
        await ProviderCluster.Finished(_user, _batchId, TimeSpan.FromSeconds(60));
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _user.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public async Task Should_retry_no_earlier_than_the_hint_while_another_task_uses_the_slot()
    {
        var calls = await _cluster.StandIn.Completions();
        var limited = calls.Single(c => c.Status == 429);
        var rows = await _cluster.Platform.Query("SELECT key, input->>'company', status, attempts, started_at, finished_at FROM tasks WHERE batch_id = $1",
            r => (Key: r.GetString(0), Company: r.GetString(1), Status: r.GetString(2), Attempts: r.GetInt32(3),
                Started: r.GetFieldValue<DateTimeOffset>(4), Finished: r.GetFieldValue<DateTimeOffset>(5)), _batchId);
        foreach (var row in rows.OrderBy(r => r.Started))
            TestContext.Out.WriteLine($"{row.Company}: {row.Status}, {row.Attempts} attempt(s), last started {ProviderCluster.Ms(row.Started - limited.At)} ms after the 429");

        var retried = rows.Single(r => r.Attempts == 2);
        Assert.Multiple(() =>
        {
            Assert.That(rows.Select(r => r.Status), Is.All.EqualTo("completed"));
            Assert.That(rows.Where(r => r != retried).Select(r => r.Attempts), Is.All.EqualTo(1));
            Assert.That(retried.Started - limited.At, Is.GreaterThanOrEqualTo(Hint), "the retry started before the provider's Retry-After");
            Assert.That(rows.Where(r => r != retried && r.Started > limited.At && r.Finished <= retried.Started).Select(r => r.Company),
                Is.EqualTo(new[] { "second" }), "the simulated task did not use the slot while the limited one waited, or a provider task did");
            Assert.That(calls.Where(c => c.At > limited.At && c.At < limited.At + Hint), Is.Empty, "a call went to the paused credential");
        });
    }

    [Test]
    public async Task Should_keep_the_books() =>
        TestContext.Out.WriteLine(await Invariants.AssertNothingLostNothingTwice(_cluster.Platform, TimeSpan.FromSeconds(30)));
}
