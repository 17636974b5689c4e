using Platform.Testing;

namespace Platform.Streams.Tests;

/// <summary>
/// One platform for every fixture (two intakes, so that any stream can be read from the instance that did not take the
/// submission); fixtures stay apart by their own users. The slow-client limits are short so that a drop happens in seconds.
/// </summary>
[SetUpFixture]
public sealed class AssemblySetup
{
    public const int SendTimeoutSeconds = 3;
    public const int HeartbeatSeconds = 1;

    public static PlatformCluster Cluster { get; private set; } = null!;

    [OneTimeSetUp]
    public async Task StartPlatform()
    {
        await LocalInfrastructure.Start();
        Cluster = await PlatformCluster.Start("streams", orchestrators: 1, workers: 2, intakes: 2, settings: new Dictionary<string, string>
        {
            ["Platform__Streams__SendTimeoutSeconds"] = SendTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Platform__Streams__HeartbeatSeconds"] = HeartbeatSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Platform__Streams__BufferedEvents"] = "64",
        });
    }

    [OneTimeTearDown]
    public async Task StopPlatform()
    {
        if (Cluster is not null)
            await Cluster.DisposeAsync();
    }
}
