using Platform.Testing;

namespace Platform.Research.Tests;

/// <summary>
/// A call that outlasts <c>Platform:Provider:Timeout</c> is abandoned and the attempt fails transiently: the task is
/// retried (by the platform, not inside the client) and completes.
/// </summary>
[TestFixture]
public sealed class When_the_provider_does_not_answer_in_time
{
    ProviderCluster _cluster = null!;
    HttpClient _user = null!;
    Guid _batchId;

    [OneTimeSetUp]
    public async Task SubmitAndWait()
    {
        _cluster = await ProviderCluster.Start(nameof(When_the_provider_does_not_answer_in_time), new Dictionary<string, string>
        {
            ["Platform__Provider__Timeout"] = "00:00:01",
        });
        await _cluster.StandIn.InjectFault(hangMs: 5000);
        _user = await _cluster.Platform.CreateUser("slow-provider-user", "free");
        _batchId = await PlatformCluster.SubmitBatch(_user, "hangs once", [new { company = "patient" }]);
        await ProviderCluster.Finished(_user, _batchId, TimeSpan.FromSeconds(60));
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _user.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public async Task Should_give_up_on_the_call_and_complete_on_the_retry()
    {
        var task = (await ProviderCluster.Tasks(_user, _batchId)).Values.Single();
        // The stand-in logs a call whose client went away as 499, when it notices (the hang ends early).
        var calls = await Poll.Until(() => _cluster.StandIn.Completions(), c => c.Count >= 2, TimeSpan.FromSeconds(10), "both calls recorded");
        TestContext.Out.WriteLine(string.Join("\n", calls.Select(c => $"{c.At:O} {c.Status} {c.Error}")));
        Assert.Multiple(() =>
        {
            Assert.That(task["status"]!.GetValue<string>(), Is.EqualTo("completed"));
            Assert.That(task["attempts"]!.GetValue<int>(), Is.EqualTo(2));
            // In either order: the stand-in records the abandoned call when it notices, which may be after the retry.
            Assert.That(calls.Select(c => c.Status), Is.EquivalentTo(new[] { 499, 200 }),
                "one call per attempt (the client did not retry by itself), the first abandoned by the client");
            Assert.That(task["usage"]!["promptTokens"]!.GetValue<int>(), Is.EqualTo(calls.Single(c => c.Status == 200).PromptTokens),
                "the usage of the attempt that completed");
        });
    }

    [Test]
    public async Task Should_keep_the_books() =>
        TestContext.Out.WriteLine(await Invariants.AssertNothingLostNothingTwice(_cluster.Platform, TimeSpan.FromSeconds(30)));
}
