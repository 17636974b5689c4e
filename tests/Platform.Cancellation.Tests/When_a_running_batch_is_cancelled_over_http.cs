using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Cancellation.Tests;

/// <summary>
/// A starter user (3 slots) has 12 ten-second tasks: three run (on two workers), nine are queued. DELETE stops the
/// three within two seconds and ends the nine without starting them; quota, saga and API agree with the rows.
/// </summary>
[TestFixture]
public sealed class When_a_running_batch_is_cancelled_over_http
{
    const int TaskCount = 12;
    const string UserId = "cancel-http";
    static readonly TimeSpan StopWithin = TimeSpan.FromSeconds(2);

    PlatformCluster _cluster = null!;
    HttpClient _user = null!;
    Guid _batchId;
    HashSet<Guid> _runningAtDelete = [];
    DateTimeOffset _deleteSentAt;
    (HttpStatusCode Status, JsonObject? Body, string? MediaType) _delete;

    [OneTimeSetUp]
    public async Task StartThreeThenCancel()
    {
        _cluster = await PlatformCluster.Start(nameof(When_a_running_batch_is_cancelled_over_http), orchestrators: 1, workers: 2);
        await WarmUp();

        _user = await _cluster.CreateUser(UserId, "starter");
        _batchId = await PlatformCluster.SubmitBatch(_user, "twelve slow companies", BatchRows.Inputs(TaskCount, durationMs: 10_000));
        await Poll.Until(() => BatchRows.StartedAndRunning(_cluster, _batchId), n => n == 3, TimeSpan.FromSeconds(30), "three tasks to start");

        _runningAtDelete = (await BatchRows.Tasks(_cluster, _batchId)).Where(t => t.Status == "running").Select(t => t.TaskId).ToHashSet();
        _deleteSentAt = DateTimeOffset.UtcNow;
        _delete = await BatchRows.Delete(_user, _batchId);

        await BatchRows.WaitForStatus(_cluster, _user, _batchId, "cancelled", TimeSpan.FromSeconds(30));
    }

    /// <summary>
    /// Cancels one running task of another user first, so that the latency measured is the mechanism's and not the
    /// first-call cost (JIT, query compilation) of processes that started seconds ago.
    /// </summary>
    async Task WarmUp()
    {
        using var other = await _cluster.CreateUser("warm-up", "free");
        var batchId = await PlatformCluster.SubmitBatch(other, "warm-up", BatchRows.Inputs(1, durationMs: 30_000));
        await Poll.Until(() => BatchRows.StartedAndRunning(_cluster, batchId), n => n == 1, TimeSpan.FromSeconds(30), "the warm-up task to start");
        await BatchRows.Delete(other, batchId);
        await BatchRows.WaitForStatus(_cluster, other, batchId, "cancelled", TimeSpan.FromSeconds(30));
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _user?.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public void Should_accept_the_cancellation()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_delete.Status, Is.EqualTo(HttpStatusCode.Accepted));
            Assert.That(_delete.Body?["batchId"]?.GetValue<Guid>(), Is.EqualTo(_batchId));
            Assert.That(_delete.Body?["status"]?.GetValue<string>(), Is.AnyOf("cancelling", "cancelled"));
        });
    }

    [Test]
    public async Task Should_end_every_task_cancelled_except_one_that_completed_before()
    {
        var rows = await BatchRows.Tasks(_cluster, _batchId);

        Assert.Multiple(() =>
        {
            Assert.That(_runningAtDelete, Has.Count.EqualTo(3));
            Assert.That(rows, Has.Count.EqualTo(TaskCount));
            Assert.That(rows.Where(t => t.Status != "cancelled").Select(t => (t.Status, t.FinishedAt < _deleteSentAt)),
                Is.All.EqualTo(("completed", true)), "a task that is not cancelled completed before the DELETE");
        });
    }

    [Test]
    public async Task Should_never_start_the_queued_tasks()
    {
        var queued = (await BatchRows.Tasks(_cluster, _batchId)).Where(t => !_runningAtDelete.Contains(t.TaskId)).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(queued, Has.Count.EqualTo(TaskCount - 3));
            Assert.That(queued.Select(t => t.StartedAt), Is.All.Null);
            Assert.That(queued.Select(t => t.Attempts), Is.All.Zero);
            Assert.That(queued.Select(t => t.Status), Is.All.EqualTo("cancelled"));
        });
    }

    [Test]
    public async Task Should_stop_each_running_task_within_two_seconds()
    {
        var stopped = (await BatchRows.Tasks(_cluster, _batchId)).Where(t => _runningAtDelete.Contains(t.TaskId)).ToList();
        var latencies = stopped.Select(t => t.FinishedAt!.Value - _deleteSentAt).ToList();
        TestContext.Out.WriteLine($"stop latency from DELETE to finished_at: {string.Join(", ", latencies.Select(l => $"{l.TotalMilliseconds:0} ms"))}");

        Assert.Multiple(() =>
        {
            Assert.That(stopped.Select(t => t.Status), Is.All.EqualTo("cancelled"));
            Assert.That(stopped.Select(t => t.StartedAt), Is.All.Not.Null, "they had started");
            Assert.That(latencies, Is.All.LessThanOrEqualTo(StopWithin));
        });
    }

    [Test]
    public async Task Should_release_every_reservation_and_charge_only_completed_tasks()
    {
        var completed = (await BatchRows.Tasks(_cluster, _batchId)).Count(t => t.Status == "completed");
        var (used, reserved) = await BatchRows.Usage(_cluster, UserId);

        Assert.Multiple(() =>
        {
            Assert.That(reserved, Is.Zero);
            Assert.That(used, Is.EqualTo(completed));
        });
    }

    [Test]
    public async Task Should_end_the_saga_cancelled_with_counters_equal_to_the_rows()
    {
        var rows = await BatchRows.Tasks(_cluster, _batchId);
        var saga = await BatchRows.Saga(_cluster, _batchId);

        Assert.Multiple(() =>
        {
            Assert.That(saga.State, Is.EqualTo("Cancelled"));
            Assert.That(saga.Finished, Is.True);
            Assert.That((saga.Total, saga.Completed, saga.Failed, saga.Cancelled),
                Is.EqualTo((TaskCount, rows.Count(t => t.Status == "completed"), rows.Count(t => t.Status == "failed"), rows.Count(t => t.Status == "cancelled"))));
            Assert.That(rows.Select(t => t.Counted), Is.All.True, "each task counted by the saga exactly once");
        });
    }

    [Test]
    public async Task Should_show_the_batch_cancelled_over_http()
    {
        var batch = await PlatformCluster.GetJson(_user, $"/v1/batches/{_batchId}");
        var cancelled = await PlatformCluster.GetJson(_user, $"/v1/batches/{_batchId}/tasks?status=cancelled");

        Assert.Multiple(() =>
        {
            Assert.That(batch["status"]!.GetValue<string>(), Is.EqualTo("cancelled"));
            Assert.That(batch["cancelled"]!.GetValue<int>() + batch["completed"]!.GetValue<int>(), Is.EqualTo(TaskCount));
            Assert.That(batch["queued"]!.GetValue<int>() + batch["running"]!.GetValue<int>(), Is.Zero);
            Assert.That(batch["finishedAt"], Is.Not.Null);
            Assert.That(cancelled["total"]!.GetValue<int>(), Is.EqualTo(batch["cancelled"]!.GetValue<int>()));
        });
    }

    [Test]
    public async Task Should_tell_every_worker_instance_on_a_queue_of_its_own()
    {
        using var management = await LocalInfrastructure.ManagementClient();
        var vhost = Uri.EscapeDataString(new Uri(_cluster.RabbitMq).AbsolutePath.Trim('/'));
        // The console's figures (consumers among them) are sampled every few seconds: on a busy machine a queue can show
        // 0 consumers for a while after its consumer came, so wait for the figures to catch up before judging them.
        var instanceQueues = await Poll.Until(async () =>
                (await management.GetFromJsonAsync<List<JsonObject>>($"/api/queues/{vhost}"))!
                .Where(q => q["name"]!.GetValue<string>().StartsWith("batch-cancellation-", StringComparison.Ordinal)).ToList(),
            qs => qs.Count == _cluster.Workers.Count() && qs.All(q => q["consumers"]?.GetValue<int>() == 1), TimeSpan.FromSeconds(20),
            "one consumer on each worker instance's queue in the console's figures");

        Assert.Multiple(() =>
        {
            Assert.That(instanceQueues, Has.Count.EqualTo(_cluster.Workers.Count()), "one per worker instance");
            // MassTransit declares a temporary endpoint's queue exclusive to its connection: it goes when the instance does.
            Assert.That(instanceQueues.Select(q => q["exclusive"]!.GetValue<bool>()), Is.All.True, "gone with its instance");
            Assert.That(instanceQueues.Select(q => q["durable"]!.GetValue<bool>()), Is.All.False);
            Assert.That(instanceQueues.Select(q => q["consumers"]!.GetValue<int>()), Is.All.EqualTo(1));
            Assert.That(instanceQueues.Select(q => q["name"]!.GetValue<string>()), Has.None.EndsWith("_error"), "no durable error queue per process");
        });
    }
}
