using System.Text.RegularExpressions;
using Platform.Testing;

namespace Platform.Contracts.Tests;

/// <summary>samples/Platform.Samples.Submitter run as its own process, as another team would run it.</summary>
public static partial class SubmitterSample
{
    public const int Rejected = 2;
    public const int TimedOut = 3;

    static readonly string Dll = Path.Combine(LocalInfrastructure.RepositoryRoot, "samples", "Platform.Samples.Submitter", "bin",
        ServiceProcess.BuildConfiguration, "net10.0", "Platform.Samples.Submitter.dll");

    public static async Task<DotnetRun> Run(string rabbitMq, string userId, IReadOnlyDictionary<string, string>? settings = null,
        TimeSpan? timeout = null)
    {
        Assert.That(File.Exists(Dll), Is.True, $"{Dll} is not built (the test project references it)");
        var sampleTimeout = timeout ?? TimeSpan.FromSeconds(90);
        var environment = new Dictionary<string, string>
        {
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["ConnectionStrings__RabbitMq"] = rabbitMq,
            ["Submitter__UserId"] = userId,
            ["Submitter__SimulateDurationMs"] = "50",
            ["Submitter__Timeout"] = sampleTimeout.ToString("c"),
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
            environment[key] = value;

        // Longer than the sample's own timeout, so that its exit code (not our kill) reports a batch it lost.
        var run = await DotnetRun.Start([Dll], sampleTimeout + TimeSpan.FromSeconds(30), environment);
        TestContext.Out.WriteLine(run.Output);
        return run;
    }

    public static Guid BatchIdIn(DotnetRun run)
    {
        var match = SubmittingLine().Match(run.Output);
        Assert.That(match.Success, Is.True, $"the sample names the batch it submits:\n{run.Output}");
        return Guid.Parse(match.Groups[1].Value);
    }

    [GeneratedRegex(@"Submitting batch ([0-9a-f-]{36}):")]
    private static partial Regex SubmittingLine();
}
