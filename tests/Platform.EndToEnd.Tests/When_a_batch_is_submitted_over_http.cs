using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.EndToEnd.Tests;

[TestFixture]
public sealed class When_a_batch_is_submitted_over_http
{
    const int TaskCount = 200;

    PlatformCluster _cluster = null!;
    HttpClient _user = null!;
    Guid _batchId;

    [OneTimeSetUp]
    public async Task SubmitAndWait()
    {
        _cluster = await PlatformCluster.Start(nameof(When_a_batch_is_submitted_over_http), orchestrators: 1, workers: 2);
        var user = _user = await _cluster.CreateUser("e2e-user", "enterprise");
        _batchId = await PlatformCluster.SubmitBatch(user, "two hundred companies",
            Enumerable.Range(0, TaskCount).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs = 40 } }));

        try
        {
            await Poll.Until(async () => (await PlatformCluster.GetJson(user, $"/v1/batches/{_batchId}"))["status"]!.GetValue<string>(),
                status => status == "completed", TimeSpan.FromSeconds(120), "the batch to complete");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + "\n" + _cluster.Logs(), ex);
        }
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _user?.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public async Task Should_complete_every_task_exactly_once()
    {
        var rows = await _cluster.Query("SELECT status, attempts, started_at IS NOT NULL, finished_at IS NOT NULL, result IS NOT NULL FROM tasks WHERE batch_id = $1",
            r => (Status: r.GetString(0), Attempts: r.GetInt32(1), Started: r.GetBoolean(2), Finished: r.GetBoolean(3), HasResult: r.GetBoolean(4)), _batchId);

        Assert.Multiple(() =>
        {
            Assert.That(rows, Has.Count.EqualTo(TaskCount));
            Assert.That(rows.Select(r => r.Status), Is.All.EqualTo("completed"));
            Assert.That(rows.Select(r => r.Attempts), Is.All.EqualTo(1), "each task ran once");
            Assert.That(rows.All(r => r.Started && r.Finished && r.HasResult), Is.True, "every task has start, finish and result");
        });
    }

    [Test]
    public async Task Should_have_counters_equal_to_the_task_rows()
    {
        var saga = (await _cluster.Query("SELECT current_state, total, completed, failed, cancelled, finished_at IS NOT NULL FROM batch_states WHERE correlation_id = $1",
            r => (State: r.GetString(0), Total: r.GetInt32(1), Completed: r.GetInt32(2), Failed: r.GetInt32(3), Cancelled: r.GetInt32(4), Finished: r.GetBoolean(5)),
            _batchId)).Single();
        var completedRows = await _cluster.Scalar<long>("SELECT count(*) FROM tasks WHERE batch_id = $1 AND status = 'completed'", _batchId);
        var counted = await _cluster.Scalar<long>("SELECT count(*) FROM tasks WHERE batch_id = $1 AND counted", _batchId);
        var usage = await _cluster.Query("SELECT used_this_month, reserved FROM users WHERE user_id = 'e2e-user'", r => (Used: r.GetInt32(0), Reserved: r.GetInt32(1)));

        Assert.Multiple(() =>
        {
            Assert.That(saga.State, Is.EqualTo("Completed"));
            Assert.That(saga.Total, Is.EqualTo(TaskCount));
            Assert.That(saga.Completed, Is.EqualTo(completedRows));
            Assert.That(saga.Failed + saga.Cancelled, Is.Zero);
            Assert.That(saga.Finished, Is.True);
            Assert.That(counted, Is.EqualTo(TaskCount), "each terminal task was counted by the saga exactly once");
            Assert.That(usage.Single().Used, Is.EqualTo(TaskCount), "usage equals completed tasks");
            Assert.That(usage.Single().Reserved, Is.Zero, "no reservation is left behind");
        });
    }

    [Test]
    public async Task Should_report_the_same_counters_over_http()
    {
        var batch = await PlatformCluster.GetJson(_user, $"/v1/batches/{_batchId}");
        var completed = await PlatformCluster.GetJson(_user, $"/v1/batches/{_batchId}/tasks?status=completed&limit=1000");
        var outbox = await _cluster.Scalar<long>("SELECT count(*) FROM outbox_messages");

        Assert.Multiple(() =>
        {
            Assert.That(batch["status"]!.GetValue<string>(), Is.EqualTo("completed"));
            Assert.That(batch["total"]!.GetValue<int>(), Is.EqualTo(TaskCount));
            Assert.That(batch["completed"]!.GetValue<int>(), Is.EqualTo(TaskCount));
            Assert.That(batch["queued"]!.GetValue<int>() + batch["running"]!.GetValue<int>(), Is.Zero);
            Assert.That(batch["etaSeconds"]!.GetValue<double>(), Is.Zero);
            Assert.That(completed["total"]!.GetValue<int>(), Is.EqualTo(TaskCount));
            Assert.That(completed["items"]!.AsArray(), Has.Count.EqualTo(TaskCount));
            Assert.That(outbox, Is.Zero, "the outbox drained: every message was published");
        });
    }

    [Test]
    public async Task Should_use_durable_quorum_queues_named_after_the_endpoints()
    {
        using var management = await LocalInfrastructure.ManagementClient();
        var vhost = Uri.EscapeDataString(new Uri(_cluster.RabbitMq).AbsolutePath.Trim('/'));
        var queues = await management.GetFromJsonAsync<List<JsonObject>>($"/api/queues/{vhost}");
        var byName = queues!.ToDictionary(q => q["name"]!.GetValue<string>(), q => q);

        Assert.Multiple(() =>
        {
            foreach (var endpoint in new[] { "batch-state", "user-work-queue", "execute-task", "submit-batch" })
            {
                Assert.That(byName, Does.ContainKey(endpoint));
                if (!byName.TryGetValue(endpoint, out var queue))
                    continue;
                Assert.That(queue["type"]!.GetValue<string>(), Is.EqualTo("quorum"), endpoint);
                Assert.That(queue["durable"]!.GetValue<bool>(), Is.True, endpoint);
                Assert.That(byName, Does.ContainKey(endpoint + "_error"));
            }
        });
    }

    [Test]
    public async Task Should_move_a_message_it_cannot_read_to_the_error_queue()
    {
        using var management = await LocalInfrastructure.ManagementClient();
        var vhost = Uri.EscapeDataString(new Uri(_cluster.RabbitMq).AbsolutePath.Trim('/'));
        using var published = await management.PostAsJsonAsync($"/api/exchanges/{vhost}/amq.default/publish", new
        {
            properties = new { content_type = "application/vnd.masstransit+json", delivery_mode = 2 },
            routing_key = "execute-task",
            payload = "{ this is not json",
            payload_encoding = "string",
        });
        await PlatformCluster.EnsureSuccess(published);

        var inError = await Poll.Until(
            async () => (await management.GetFromJsonAsync<JsonObject>($"/api/queues/{vhost}/execute-task_error"))!["messages"]?.GetValue<int>() ?? 0,
            count => count >= 1, TimeSpan.FromSeconds(30), "the unreadable message to reach execute-task_error");

        Assert.That(inError, Is.EqualTo(1));
    }
}
