using Platform.Testing;

namespace Platform.EndToEnd.Tests;

[SetUpFixture]
public sealed class AssemblySetup
{
    [OneTimeSetUp]
    public Task StartInfrastructure() => LocalInfrastructure.Start();
}
