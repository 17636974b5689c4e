using Platform.Testing;

namespace Platform.Cancellation.Tests;

[SetUpFixture]
public sealed class AssemblySetup
{
    [OneTimeSetUp]
    public Task StartInfrastructure() => LocalInfrastructure.Start();
}
