using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Contracts.Tests;

[TestFixture]
public sealed class When_no_intake_answers
{
    // A virtual host where no platform runs: the SubmitBatch has no queue to go to, and no answer comes.
    string _rabbitMq = null!;
    DotnetRun _run = null!;

    [OneTimeSetUp]
    public async Task RunTheSample()
    {
        _rabbitMq = await LocalInfrastructure.CreateVirtualHost(nameof(When_no_intake_answers));
        _run = await SubmitterSample.Run(_rabbitMq, "nobody", timeout: TimeSpan.FromSeconds(3));
    }

    [OneTimeTearDown]
    public Task Clean() => LocalInfrastructure.Shared.DeleteVirtualHost(nameof(When_no_intake_answers));

    [Test]
    public void Should_give_up_at_its_timeout_with_exit_code_3()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_run.ExitCode, Is.EqualTo(SubmitterSample.TimedOut), _run.Output);
            Assert.That(_run.Output, Does.Contain(": no answer (BatchSubmitted or BatchRejected) within 00:00:03"));
        });
    }

    [Test]
    public async Task Should_leave_no_queue_behind()
    {
        // The sample's queue is temporary: the broker deletes it once the sample's connection is gone.
        using var management = await LocalInfrastructure.ManagementClient();
        var vhost = Uri.EscapeDataString(new Uri(_rabbitMq).AbsolutePath.Trim('/'));
        List<string> left = [];
        try
        {
            await Poll.Until(async () =>
            {
                var queues = JsonNode.Parse(await management.GetStringAsync($"/api/queues/{vhost}"))!.AsArray();
                left = queues.Select(q => q!["name"]!.GetValue<string>()).Where(n => n.StartsWith("sample-batch-events", StringComparison.Ordinal)).ToList();
                return left.Count == 0;
            }, TimeSpan.FromSeconds(20), "the sample's queue to be deleted");
        }
        catch (TimeoutException)
        {
        }

        Assert.That(left, Is.Empty, "queues the sample left in its virtual host");
    }
}
