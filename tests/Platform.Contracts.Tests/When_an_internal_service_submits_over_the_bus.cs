using System.Text.RegularExpressions;
using Platform.Testing;

namespace Platform.Contracts.Tests;

/// <summary>samples/Platform.Samples.Submitter as its own process, as another team would run it, against a whole platform.</summary>
[TestFixture]
public sealed partial class When_an_internal_service_submits_over_the_bus
{
    const string UserId = "sample-user";
    const int TaskCount = 4;

    static readonly string Sample = Path.Combine(LocalInfrastructure.RepositoryRoot, "samples", "Platform.Samples.Submitter", "bin",
        ServiceProcess.BuildConfiguration, "net10.0", "Platform.Samples.Submitter.dll");

    PlatformCluster _cluster = null!;

    [OneTimeSetUp]
    public async Task StartPlatform()
    {
        Assert.That(File.Exists(Sample), Is.True, $"{Sample} is not built (the test project references it)");
        _cluster = await PlatformCluster.Start(nameof(When_an_internal_service_submits_over_the_bus), orchestrators: 1, workers: 1);
        (await _cluster.CreateUser(UserId, "pro")).Dispose();
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        if (_cluster is not null)
            await _cluster.DisposeAsync();
    }

    [Test]
    public async Task Should_follow_an_accepted_batch_to_its_end_and_exit_0()
    {
        var run = await RunSample(new Dictionary<string, string> { ["Submitter__TaskCount"] = $"{TaskCount}" });
        var batchId = BatchIdIn(run);
        var saga = (await _cluster.Query("SELECT current_state, completed FROM batch_states WHERE correlation_id = $1",
            r => (State: r.GetString(0), Completed: r.GetInt32(1)), batchId)).SingleOrDefault();

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.Zero, run.Output);
            Assert.That(run.Output, Does.Contain($"Batch {batchId} accepted: {TaskCount} tasks queued"));
            Assert.That(run.Output, Does.Contain($"Batch {batchId} progress: "), "BatchProgressed reached the sample");
            Assert.That(run.Output, Does.Contain($"Batch {batchId} finished: completed, {TaskCount} completed, 0 failed, 0 cancelled of {TaskCount}"));
            // What it heard is what the platform holds.
            Assert.That(saga, Is.EqualTo(("Completed", TaskCount)), "the batch's saga row");
        });
    }

    [Test]
    public async Task Should_report_a_rejected_batch_s_reason_and_exit_non_zero()
    {
        // The tasks' inputs have a company, not a country: intake refuses the batch as a whole.
        var run = await RunSample(new Dictionary<string, string> { ["Submitter__Instructions"] = "Research {company} in {country}" });
        var batchId = BatchIdIn(run);
        var stored = await _cluster.Scalar<long>("SELECT count(*) FROM batches WHERE batch_id = $1", batchId);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2), run.Output);
            Assert.That(run.Output, Does.Contain($"Batch {batchId} rejected: the batch is invalid: "));
            Assert.That(run.Output, Does.Contain("tasks[0].input.country: input.country is required by the instructions' placeholder {country}"));
            Assert.That(run.Output, Does.Not.Contain("accepted"));
            Assert.That(stored, Is.Zero, "nothing of a rejected batch is stored");
        });
    }

    async Task<DotnetRun> RunSample(Dictionary<string, string> settings)
    {
        var environment = new Dictionary<string, string>
        {
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["ConnectionStrings__RabbitMq"] = _cluster.RabbitMq,
            ["Submitter__UserId"] = UserId,
            ["Submitter__SimulateDurationMs"] = "50",
            ["Submitter__Timeout"] = "00:01:30",
        };
        foreach (var (key, value) in settings)
            environment[key] = value;

        // A little longer than the sample's own timeout, so that its exit code 3 (not our kill) reports a lost batch.
        var run = await DotnetRun.Start([Sample], TimeSpan.FromMinutes(2), environment);
        TestContext.Out.WriteLine(run.Output);
        return run;
    }

    static Guid BatchIdIn(DotnetRun run)
    {
        var match = SubmittingLine().Match(run.Output);
        Assert.That(match.Success, Is.True, $"the sample names the batch it submits:\n{run.Output}");
        return Guid.Parse(match.Groups[1].Value);
    }

    [GeneratedRegex(@"Submitting batch ([0-9a-f-]{36}):")]
    private static partial Regex SubmittingLine();
}
