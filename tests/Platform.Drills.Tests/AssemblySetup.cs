using Platform.Testing;

namespace Platform.Drills.Tests;

[SetUpFixture]
public sealed class AssemblySetup
{
    [OneTimeSetUp]
    public Task StartInfrastructure() => LocalInfrastructure.Start();
}
