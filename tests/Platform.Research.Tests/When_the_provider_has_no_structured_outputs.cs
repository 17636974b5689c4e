using Platform.Testing;

namespace Platform.Research.Tests;

/// <summary>
/// A provider without response_format (many local servers) answers 400 to json_schema and JSON mode: the executor steps
/// down once per format for that provider and reads the research JSON out of the model's prose.
/// </summary>
[TestFixture]
public sealed class When_the_provider_has_no_structured_outputs
{
    ProviderCluster _cluster = null!;
    HttpClient _user = null!;
    Guid _batchId;

    [OneTimeSetUp]
    public async Task SubmitAndWait()
    {
        _cluster = await ProviderCluster.Start(nameof(When_the_provider_has_no_structured_outputs),
            standInSettings: new Dictionary<string, string> { ["StandIn__ResponseFormats"] = "none" });
        _user = await _cluster.Platform.CreateUser("plain-text-user", "free");
        _batchId = await PlatformCluster.SubmitBatch(_user, "prose", [new { company = "Acme" }, new { company = "Globex" }]);
        await ProviderCluster.Finished(_user, _batchId, TimeSpan.FromSeconds(60));
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _user.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public async Task Should_step_down_to_plain_text_once_and_read_the_json_from_the_prose()
    {
        var tasks = await ProviderCluster.Tasks(_user, _batchId);
        var calls = await _cluster.StandIn.Completions();
        TestContext.Out.WriteLine(string.Join("\n", calls.Select(c => $"{c.Status} {c.Error}")));
        Assert.Multiple(() =>
        {
            Assert.That(tasks.Values.Select(t => t["status"]!.GetValue<string>()), Is.All.EqualTo("completed"));
            Assert.That(tasks.Values.Select(t => t["attempts"]!.GetValue<int>()), Is.All.EqualTo(1), "stepping down is not a failed attempt");
            Assert.That(tasks.Values.Select(t => t["result"]!["summary"]!.GetValue<string>()), Is.All.StartsWith("Stand-in research on"));
            Assert.That(calls.Select(c => c.Status), Is.EqualTo(new[] { 400, 400, 200, 200 }),
                "json_schema refused, JSON mode refused, then plain text for every task");
        });
    }
}
