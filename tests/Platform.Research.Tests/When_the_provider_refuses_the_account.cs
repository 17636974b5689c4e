using Platform.Testing;

namespace Platform.Research.Tests;

/// <summary>
/// A rejected key (401) and an account without quota (429 <c>insufficient_quota</c>) cannot get better by retrying:
/// the task fails at its first attempt, with the reason in words, and its quota reservation is released.
/// </summary>
[TestFixture]
public sealed class When_the_provider_refuses_the_account
{
    ProviderCluster _cluster = null!;
    HttpClient _user = null!;
    Guid _batchId;

    [OneTimeSetUp]
    public async Task SubmitAndWait()
    {
        _cluster = await ProviderCluster.Start(nameof(When_the_provider_refuses_the_account));
        // One slot, so the calls come in the order of the tasks: the first is refused 401, the second has no quota.
        await _cluster.StandIn.InjectFault(status: 401);
        await _cluster.StandIn.InjectFault(status: 429, code: "insufficient_quota");
        _user = await _cluster.Platform.CreateUser("refused-user", "free");
        _batchId = await PlatformCluster.SubmitBatch(_user, "refused", [new { company = "rejected" }, new { company = "no quota" }, new { company = "fine" }]);
        await ProviderCluster.Finished(_user, _batchId, TimeSpan.FromSeconds(60));
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _user.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public async Task Should_fail_at_once_with_the_provider_s_reason_in_words()
    {
        var rows = (await _cluster.Platform.Query("SELECT input->>'company', status, attempts, error, prompt_tokens FROM tasks WHERE batch_id = $1",
            r => (Company: r.GetString(0), Status: r.GetString(1), Attempts: r.GetInt32(2), Error: r.IsDBNull(3) ? null : r.GetString(3),
                Tokens: r.IsDBNull(4) ? (int?)null : r.GetInt32(4)), _batchId)).ToDictionary(r => r.Company);
        foreach (var row in rows.Values)
            TestContext.Out.WriteLine($"{row.Company}: {row.Status} after {row.Attempts} attempt(s): {row.Error}");

        Assert.Multiple(() =>
        {
            Assert.That((rows["rejected"].Status, rows["rejected"].Attempts), Is.EqualTo(("failed", 1)));
            Assert.That(rows["rejected"].Error, Is.EqualTo("the provider rejected the API key (401 invalid_api_key)"));
            Assert.That((rows["no quota"].Status, rows["no quota"].Attempts), Is.EqualTo(("failed", 1)));
            Assert.That(rows["no quota"].Error, Is.EqualTo("the provider account has no quota left (insufficient_quota)"));
            Assert.That(rows["rejected"].Tokens, Is.Null, "a failed task counts no tokens");
            Assert.That(rows["fine"].Status, Is.EqualTo("completed"));
            Assert.That(rows.Values.Select(r => r.Error ?? ""), Has.None.Contains(ProviderCluster.PlatformKey), "the key in an error");
        });
    }

    [Test]
    public async Task Should_release_the_failed_tasks_quota()
    {
        var user = await PlatformCluster.GetJson(_user, "/v1/users/refused-user");
        Assert.Multiple(() =>
        {
            Assert.That(user["usedThisMonth"]!.GetValue<int>(), Is.EqualTo(1), "only the completed task uses quota");
            Assert.That(user["reserved"]!.GetValue<int>(), Is.Zero);
        });
    }

    [Test]
    public async Task Should_keep_the_books() =>
        TestContext.Out.WriteLine(await Invariants.AssertNothingLostNothingTwice(_cluster.Platform, TimeSpan.FromSeconds(30)));
}
