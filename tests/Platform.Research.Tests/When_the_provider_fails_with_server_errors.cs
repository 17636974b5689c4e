using Platform.Testing;

namespace Platform.Research.Tests;

/// <summary>
/// 5xx answers are transient: each failed call is one failed attempt (the client does not retry by itself), retried by
/// the platform with its backoff until the provider answers.
/// </summary>
[TestFixture]
public sealed class When_the_provider_fails_with_server_errors
{
    ProviderCluster _cluster = null!;
    HttpClient _user = null!;
    Guid _batchId;

    [OneTimeSetUp]
    public async Task SubmitAndWait()
    {
        _cluster = await ProviderCluster.Start(nameof(When_the_provider_fails_with_server_errors));
        await _cluster.StandIn.InjectFault(status: 503);
        await _cluster.StandIn.InjectFault(status: 500);
        _user = await _cluster.Platform.CreateUser("server-error-user", "free");
        _batchId = await PlatformCluster.SubmitBatch(_user, "flaky provider", [new { company = "persistent" }]);
        await ProviderCluster.Finished(_user, _batchId, TimeSpan.FromSeconds(60));
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _user.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public async Task Should_retry_each_server_error_as_an_attempt_of_its_own_and_complete()
    {
        var task = (await ProviderCluster.Tasks(_user, _batchId)).Values.Single();
        var calls = await _cluster.StandIn.Completions();
        Assert.Multiple(() =>
        {
            Assert.That(task["status"]!.GetValue<string>(), Is.EqualTo("completed"));
            Assert.That(task["attempts"]!.GetValue<int>(), Is.EqualTo(3));
            Assert.That(calls.Select(c => c.Status), Is.EqualTo(new[] { 503, 500, 200 }), "one call per attempt");
        });
    }

    [Test]
    public async Task Should_keep_the_books() =>
        TestContext.Out.WriteLine(await Invariants.AssertNothingLostNothingTwice(_cluster.Platform, TimeSpan.FromSeconds(30)));
}
