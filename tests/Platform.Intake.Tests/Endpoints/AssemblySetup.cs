using Platform.Testing;

namespace Platform.Intake.Tests.Endpoints;

/// <summary>
/// One Intake host for every HTTP test, on its own database and vhost (starting a host per test would dominate the run).
/// Tests stay apart by creating their own users. The validator tests live outside this namespace and need no servers.
/// </summary>
[SetUpFixture]
public sealed class AssemblySetup
{
    public static IntakeApplication Application { get; private set; } = null!;

    /// <summary>The host's database, for the few assertions that must read what was stored.</summary>
    public static string Database { get; private set; } = null!;

    [OneTimeSetUp]
    public async Task StartIntake()
    {
        Database = await LocalInfrastructure.CreateDatabase("intake_http");
        var rabbitMq = await LocalInfrastructure.CreateVirtualHost("intake_http");
        Application = new IntakeApplication(Database, rabbitMq);
        Application.UseKestrel(0);
        Application.StartServer();
    }

    [OneTimeTearDown]
    public async Task StopIntake()
    {
        if (Application is not null)
            await Application.DisposeAsync();
    }
}
