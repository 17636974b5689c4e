using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Research.Tests;

/// <summary>
/// Tasks without <c>simulate</c> run through real HTTP calls to the provider: structured results, and the tokens the
/// provider counted recorded per task, summed per batch and per user month, each agreeing with the provider's own record.
/// </summary>
[TestFixture]
public sealed class When_a_batch_runs_on_a_provider
{
    ProviderCluster _cluster = null!;
    HttpClient _user = null!;
    Guid _batchId;
    Dictionary<string, JsonObject> _tasks = null!;
    JsonObject _batch = null!;

    [OneTimeSetUp]
    public async Task SubmitAndWait()
    {
        _cluster = await ProviderCluster.Start(nameof(When_a_batch_runs_on_a_provider));
        _user = await _cluster.Platform.CreateUser("provider-user", "starter");
        _batchId = await PlatformCluster.SubmitBatch(_user, "four companies",
            [new { company = "Acme" }, new { company = "Globex" }, new { company = "Initech", country = "US" }, new { company = "Umbrella" }],
            "Research {company}: founding year, headquarters");
        _batch = await ProviderCluster.Finished(_user, _batchId, TimeSpan.FromSeconds(60));
        _tasks = await ProviderCluster.Tasks(_user, _batchId);
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _user.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public void Should_complete_every_task_with_a_structured_result()
    {
        Assert.That(_batch["status"]!.GetValue<string>(), Is.EqualTo("completed"), _cluster.Platform.Logs());
        Assert.Multiple(() =>
        {
            foreach (var (key, task) in _tasks)
            {
                var result = task["result"]!.AsObject();
                TestContext.Out.WriteLine($"{key}: {result.ToJsonString()}");
                Assert.That(result["answer"], Is.InstanceOf<JsonObject>(), key);
                Assert.That(result["summary"]!.GetValue<string>(), Is.Not.Empty, key);
                Assert.That(result["sources"], Is.InstanceOf<JsonArray>(), key);
                Assert.That(result["confidence"]!.GetValue<double>(), Is.InRange(0, 1), key);
                Assert.That(task["attempts"]!.GetValue<int>(), Is.EqualTo(1), key);
            }
        });
        // The prompt is the batch's instructions filled from the task's input.
        Assert.That(_tasks.Values.Select(t => t["result"]!["answer"]!.ToJsonString()), Has.Some.Contains("Research Initech: founding year, headquarters"));
    }

    [Test]
    public async Task Should_record_the_tokens_the_provider_counted_per_task_batch_and_user()
    {
        var calls = await _cluster.StandIn.Completions();
        var answered = calls.Where(c => c.Status == 200).ToList();
        var user = await PlatformCluster.GetJson(_user, "/v1/users/provider-user");
        var taskUsage = _tasks.Values.Select(t => t["usage"]!.AsObject()).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(calls, Has.Count.EqualTo(_tasks.Count), "one call per task");
            Assert.That(calls.Select(c => c.Key), Is.All.EqualTo(ProviderCluster.PlatformKey), "every call on the platform's key");
            Assert.That(taskUsage.Select(u => u["model"]!.GetValue<string>()), Is.All.EqualTo("gpt-4o-mini"));
            Assert.That(taskUsage.Select(u => u["promptTokens"]!.GetValue<int>()).Order(), Is.EqualTo(answered.Select(c => c.PromptTokens).Order()),
                "each task's prompt tokens are a call's");
            Assert.That(taskUsage.Select(u => u["completionTokens"]!.GetValue<int>()).Order(), Is.EqualTo(answered.Select(c => c.CompletionTokens).Order()));

            var prompt = answered.Sum(c => c.PromptTokens);
            var completion = answered.Sum(c => c.CompletionTokens);
            Assert.That(prompt, Is.GreaterThan(0));
            Assert.That(_batch["usage"]?["promptTokens"]?.GetValue<long>(), Is.EqualTo(prompt), "the batch's sum");
            Assert.That(_batch["usage"]?["completionTokens"]?.GetValue<long>(), Is.EqualTo(completion));
            Assert.That(user["usage"]?["promptTokens"]?.GetValue<long>(), Is.EqualTo(prompt), "the user's month");
            Assert.That(user["usage"]?["completionTokens"]?.GetValue<long>(), Is.EqualTo(completion));
            Assert.That(user["usedThisMonth"]!.GetValue<int>(), Is.EqualTo(_tasks.Count));
        });
    }

    [Test]
    public async Task Should_keep_the_books() =>
        TestContext.Out.WriteLine(await Invariants.AssertNothingLostNothingTwice(_cluster.Platform, TimeSpan.FromSeconds(30)));
}
