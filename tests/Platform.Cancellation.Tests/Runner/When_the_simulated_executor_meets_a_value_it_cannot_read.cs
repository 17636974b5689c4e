using System.Text.Json.Nodes;
using Platform.Worker.Research;

namespace Platform.Cancellation.Tests.Runner;

/// <summary>
/// Intake refuses a <c>simulate</c> the worker cannot run, but a row written before it did (or by hand) may still hold
/// one: the executor must fail that task as a research outcome naming the member, not throw as a crash would.
/// (Here beside the runner's tests because this is the project that references the worker.)
/// </summary>
[TestFixture]
public sealed class When_the_simulated_executor_meets_a_value_it_cannot_read
{
    // Awaited rather than returned: the test reads only whether it throws, whatever the executor returns.
    static async Task Run(string simulate) =>
        await new SimulatedResearchExecutor().Execute(
            new ResearchRequest(Guid.NewGuid(), "a", "Research {company}", JsonNode.Parse($$"""{"company": "Acme", "simulate": {{simulate}}}""")!.AsObject(), 1),
            new Progress<string>(), CancellationToken.None);

    [TestCase("{\"durationMs\": \"abc\"}", "simulate.durationMs")]
    [TestCase("{\"durationMs\": -5}", "simulate.durationMs")]
    [TestCase("{\"durationMs\": 1000000000000}", "simulate.durationMs")]
    [TestCase("{\"durationMs\": 1.5}", "simulate.durationMs")]
    [TestCase("{\"failTimes\": \"twice\"}", "simulate.failTimes")]
    [TestCase("{\"fail\": \"sometimes\"}", "simulate.fail")]
    [TestCase("{\"fail\": 3}", "simulate.fail")]
    [TestCase("\"slow\"", "simulate must be an object")]
    public void Should_fail_the_task_permanently_naming_the_member(string simulate, string mention)
    {
        var failure = Assert.ThrowsAsync<ResearchFailedException>(() => Run(simulate));

        Assert.Multiple(() =>
        {
            Assert.That(failure!.Transient, Is.False, "retrying would read the same value");
            Assert.That(failure.Message, Does.Contain(mention));
        });
    }

    [Test]
    public void Should_still_run_a_simulate_it_can_read()
    {
        // The refusals above mean something only if a readable simulate runs.
        Assert.DoesNotThrowAsync(() => Run("{\"durationMs\": 0, \"fail\": \"transient\", \"failTimes\": 0}"));
    }
}
