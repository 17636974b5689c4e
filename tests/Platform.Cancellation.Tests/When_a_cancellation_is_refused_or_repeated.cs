using System.Net;
using Platform.Testing;

namespace Platform.Cancellation.Tests;

/// <summary>DELETE's answers: 404 for a batch the caller does not own, 409 naming the status of a finished one, 202 again and again for one being cancelled.</summary>
[TestFixture]
public sealed class When_a_cancellation_is_refused_or_repeated
{
    PlatformCluster _cluster = null!;
    HttpClient _owner = null!;
    HttpClient _stranger = null!;
    Guid _finished;
    Guid _running;
    Guid _bystander;

    [OneTimeSetUp]
    public async Task Start()
    {
        _cluster = await PlatformCluster.Start(nameof(When_a_cancellation_is_refused_or_repeated), orchestrators: 1, workers: 1);
        _owner = await _cluster.CreateUser("edge-owner", "starter");
        _stranger = await _cluster.CreateUser("edge-stranger", "starter");

        _finished = await PlatformCluster.SubmitBatch(_owner, "quick", BatchRows.Inputs(2, durationMs: 50));
        await BatchRows.WaitForStatus(_cluster, _owner, _finished, "completed", TimeSpan.FromSeconds(30));

        _running = await PlatformCluster.SubmitBatch(_owner, "slow", BatchRows.Inputs(5, durationMs: 30_000));
        await Poll.Until(() => BatchRows.StartedAndRunning(_cluster, _running), n => n == 3, TimeSpan.FromSeconds(30), "three tasks to start");
        // Holds a reservation throughout, so that a reservation released twice would show.
        _bystander = await PlatformCluster.SubmitBatch(_owner, "bystander", BatchRows.Inputs(1, durationMs: 60_000));
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _owner?.Dispose();
        _stranger?.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public async Task Should_answer_404_for_another_user_s_batch_as_for_a_missing_one()
    {
        var theirs = await BatchRows.Delete(_stranger, _bystander);
        var missing = await BatchRows.Delete(_stranger, Guid.NewGuid());
        var requested = await _cluster.Scalar<bool>("SELECT cancel_requested_at IS NOT NULL FROM batches WHERE batch_id = $1", _bystander);

        Assert.Multiple(() =>
        {
            Assert.That(theirs.Status, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(theirs.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(missing.Status, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(theirs.Body?["detail"]?.GetValue<string>(), Is.EqualTo($"batch {_bystander} does not exist"),
                "the same answer as for a batch that does not exist");
            Assert.That(requested, Is.False, "the stranger's request changed nothing");
        });
    }

    [Test]
    public async Task Should_answer_409_naming_the_status_of_a_finished_batch()
    {
        var answer = await BatchRows.Delete(_owner, _finished);
        var statuses = (await BatchRows.Tasks(_cluster, _finished)).Select(t => t.Status);

        Assert.Multiple(() =>
        {
            Assert.That(answer.Status, Is.EqualTo(HttpStatusCode.Conflict));
            Assert.That(answer.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(answer.Body?["batchStatus"]?.GetValue<string>(), Is.EqualTo("completed"));
            Assert.That(answer.Body?["detail"]?.GetValue<string>(), Does.Contain("completed"));
            Assert.That(statuses, Is.All.EqualTo("completed"));
        });
    }

    [Test]
    public async Task Should_accept_a_repeated_cancellation_without_doing_it_twice()
    {
        var first = await BatchRows.Delete(_owner, _running);
        var second = await BatchRows.Delete(_owner, _running);
        await BatchRows.WaitForStatus(_cluster, _owner, _running, "cancelled", TimeSpan.FromSeconds(30));
        var afterwards = await BatchRows.Delete(_owner, _running);
        var rows = await BatchRows.Tasks(_cluster, _running);
        var saga = await BatchRows.Saga(_cluster, _running);
        var (used, reserved) = await BatchRows.Usage(_cluster, "edge-owner");
        var bystander = (await BatchRows.Tasks(_cluster, _bystander)).Single();

        Assert.Multiple(() =>
        {
            Assert.That(new[] { first.Status, second.Status, afterwards.Status }, Is.All.EqualTo(HttpStatusCode.Accepted));
            Assert.That(new[] { first.Body, second.Body }.Select(b => b?["status"]?.GetValue<string>()), Is.All.AnyOf("cancelling", "cancelled"));
            Assert.That(afterwards.Body?["status"]?.GetValue<string>(), Is.EqualTo("cancelled"));
            Assert.That(rows.Select(t => t.Status), Is.All.EqualTo("cancelled"));
            Assert.That((saga.State, saga.Cancelled), Is.EqualTo(("Cancelled", 5)), "each task counted once");
            Assert.That((used, reserved), Is.EqualTo((2, 1)), "each reservation released once: the bystander's is still held");
            Assert.That(bystander.Status, Is.AnyOf("queued", "running"), "the other batch is untouched");
        });
    }
}
