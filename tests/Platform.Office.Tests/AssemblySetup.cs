using Microsoft.Playwright;
using Platform.Testing;

namespace Platform.Office.Tests;

/// <summary>
/// The shared servers, and one headless chromium for every test (each test opens its own context: its own cookies).
/// The browser is Debian's <c>chromium</c> (infra/local.sh installs it), started by its path: Playwright's own browser
/// download cannot be reached here and is never attempted.
/// </summary>
[SetUpFixture]
public sealed class AssemblySetup
{
    public static IPlaywright Playwright { get; private set; } = null!;
    public static IBrowser Browser { get; private set; } = null!;

    /// <summary>One platform for every test (each test makes its own users): two intakes, so a cookie is shown to work on both.</summary>
    public static PlatformCluster Cluster { get; private set; } = null!;

    /// <summary><c>PLATFORM_CHROMIUM</c>, else Debian's <c>/usr/bin/chromium</c>.</summary>
    public static string ChromiumPath => Environment.GetEnvironmentVariable("PLATFORM_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    [OneTimeSetUp]
    public async Task Start()
    {
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        if (!File.Exists(ChromiumPath))
            Assert.Fail($"{ChromiumPath} is missing: run 'sudo infra/local.sh up' (it installs Debian's chromium) or set PLATFORM_CHROMIUM");

        await LocalInfrastructure.Start();
        Cluster = await PlatformCluster.Start("office", orchestrators: 1, workers: 1, intakes: 2);
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = ChromiumPath, Headless = true });
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        if (Browser is not null)
            await Browser.DisposeAsync();
        Playwright?.Dispose();
        if (Cluster is not null)
            await Cluster.DisposeAsync();
    }
}
