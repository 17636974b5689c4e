using Platform.Testing;

namespace Platform.Research.Tests;

[SetUpFixture]
public sealed class AssemblySetup
{
    [OneTimeSetUp]
    public Task StartInfrastructure() => LocalInfrastructure.Start();
}
