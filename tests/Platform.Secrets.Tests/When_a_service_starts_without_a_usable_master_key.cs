using Platform.Testing;

namespace Platform.Secrets.Tests;

/// <summary>
/// The services that read or write provider keys (intake, worker) refuse to start without a master key, or with one
/// that is not 32 bytes, and say which setting to fix; the orchestrator, which never sees a key, needs none.
/// </summary>
[TestFixture]
public sealed class When_a_service_starts_without_a_usable_master_key
{
    PlatformCluster _cluster = null!;

    [OneTimeSetUp]
    public async Task Start() =>
        _cluster = await PlatformCluster.Start(nameof(When_a_service_starts_without_a_usable_master_key), orchestrators: 0, workers: 0, intakes: 0);

    [OneTimeTearDown]
    public async Task Stop() => await _cluster.DisposeAsync();

    [TestCase("Platform.Intake")]
    [TestCase("Platform.Worker")]
    public void Should_refuse_to_start_and_name_the_setting(string project)
    {
        var missing = new Dictionary<string, string> { ["Platform__Secrets__MasterKeyFile"] = "" };
        Assert.That(async () => await _cluster.StartService(project, $"{project}-no-master-key", missing),
            Throws.InvalidOperationException.With.Message.Contains("exited").And.Message.Contains("Platform:Secrets:MasterKeyFile"));
    }

    [TestCase("Platform.Intake")]
    [TestCase("Platform.Worker")]
    public void Should_refuse_a_master_key_of_the_wrong_length(string project)
    {
        var tooShort = new Dictionary<string, string>
        {
            ["Platform__Secrets__MasterKeyFile"] = "",
            ["Platform__Secrets__MasterKey"] = Convert.ToBase64String(new byte[16]),
        };
        Assert.That(async () => await _cluster.StartService(project, $"{project}-short-master-key", tooShort),
            Throws.InvalidOperationException.With.Message.Contains("holds 16 bytes"));
    }

    [Test]
    public async Task Should_start_the_orchestrator_without_one()
    {
        var orchestrator = await _cluster.StartService("Platform.Orchestrator", "orchestrator-no-master-key",
            new Dictionary<string, string> { ["Platform__Secrets__MasterKeyFile"] = "" });
        Assert.That(orchestrator.HasExited, Is.False);
    }
}
