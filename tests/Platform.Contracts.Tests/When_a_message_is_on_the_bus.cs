namespace Platform.Contracts.Tests;

[TestFixture]
public sealed class When_a_message_is_on_the_bus
{
    // MassTransit names a message by its namespace and type name (urn:message:Platform.Contracts:SubmitBatch): a rename
    // or a move is a new message that running producers and consumers do not know. Adding one is fine; add it here too.
    static readonly string[] Messages =
    [
        "BatchCancellationRequested", "BatchFinished", "BatchProgressed", "BatchRejected", "BatchSubmitted", "BatchTasksEnded", "CancelBatch",
        "ExecuteTask", "SubmitBatch", "TaskCancelled", "TaskCompleted", "TaskFailed", "TaskQueued", "TaskRetrying",
        "TaskSpec", "TaskStarted", "UserTierChanged",
    ];

    [Test]
    public void Should_keep_every_message_s_namespace_and_name()
    {
        var types = typeof(SubmitBatch).Assembly.GetExportedTypes();

        Assert.Multiple(() =>
        {
            Assert.That(types.Select(t => t.Namespace).Distinct(), Is.EqualTo(new[] { "Platform.Contracts" }));
            Assert.That(types.Select(t => t.Name), Is.EquivalentTo(Messages));
        });
    }
}
