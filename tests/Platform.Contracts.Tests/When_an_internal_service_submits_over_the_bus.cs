using Platform.Testing;

namespace Platform.Contracts.Tests;

[TestFixture]
public sealed class When_an_internal_service_submits_over_the_bus
{
    const string UserId = "sample-user";
    const int TaskCount = 4;

    PlatformCluster _cluster = null!;

    [OneTimeSetUp]
    public async Task StartPlatform()
    {
        _cluster = await PlatformCluster.Start(nameof(When_an_internal_service_submits_over_the_bus), orchestrators: 1, workers: 1);
        (await _cluster.CreateUser(UserId, "pro")).Dispose();
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        if (_cluster is not null)
            await _cluster.DisposeAsync();
    }

    [Test]
    public async Task Should_follow_an_accepted_batch_to_its_end_and_exit_0()
    {
        var run = await SubmitterSample.Run(_cluster.RabbitMq, UserId, new Dictionary<string, string> { ["Submitter__TaskCount"] = $"{TaskCount}" });
        var batchId = SubmitterSample.BatchIdIn(run);
        var saga = (await _cluster.Query("SELECT current_state, completed FROM batch_states WHERE correlation_id = $1",
            r => (State: r.GetString(0), Completed: r.GetInt32(1)), batchId)).SingleOrDefault();

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.Zero, run.Output);
            Assert.That(run.Output, Does.Contain($"Batch {batchId} accepted: {TaskCount} tasks queued"));
            Assert.That(run.Output, Does.Contain($"Batch {batchId} progress: "), "BatchProgressed reached the sample");
            Assert.That(run.Output, Does.Contain($"Batch {batchId} finished: completed, {TaskCount} completed, 0 failed, 0 cancelled of {TaskCount}"));
            // What it heard is what the platform holds.
            Assert.That(saga, Is.EqualTo(("Completed", TaskCount)), "the batch's saga row");
        });
    }

    [Test]
    public async Task Should_report_a_rejected_batch_s_reason_and_exit_non_zero()
    {
        // The tasks' inputs have a company, not a country: intake refuses the batch as a whole.
        var run = await SubmitterSample.Run(_cluster.RabbitMq, UserId,
            new Dictionary<string, string> { ["Submitter__Instructions"] = "Research {company} in {country}" });
        var batchId = SubmitterSample.BatchIdIn(run);
        var stored = await _cluster.Scalar<long>("SELECT count(*) FROM batches WHERE batch_id = $1", batchId);

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(SubmitterSample.Rejected), run.Output);
            Assert.That(run.Output, Does.Contain($"Batch {batchId} rejected: the batch is invalid: "));
            Assert.That(run.Output, Does.Contain("tasks[0].input.country: input.country is required by the instructions' placeholder {country}"));
            Assert.That(run.Output, Does.Not.Contain("accepted"));
            Assert.That(stored, Is.Zero, "nothing of a rejected batch is stored");
        });
    }
}
