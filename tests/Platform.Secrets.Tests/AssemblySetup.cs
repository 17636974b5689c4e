using Platform.Testing;

namespace Platform.Secrets.Tests;

[SetUpFixture]
public sealed class AssemblySetup
{
    [OneTimeSetUp]
    public Task StartInfrastructure() => LocalInfrastructure.Start();
}
