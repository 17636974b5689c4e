using System.Net.Http.Json;
using System.Text.Json.Nodes;
using MassTransit;
using Platform.Contracts;
using Platform.Testing;

namespace Platform.Cancellation.Tests;

/// <summary>
/// An internal service publishes <see cref="CancelBatch"/> (twice, as a redelivery would) on the cluster's broker: the
/// batch ends exactly as over HTTP. Commands naming another user's batch or an unknown one are dropped, not retried
/// into the error queue.
/// </summary>
[TestFixture]
public sealed class When_a_batch_is_cancelled_over_the_bus
{
    const int TaskCount = 12;
    const string OwnerId = "bus-owner";

    PlatformCluster _cluster = null!;
    HttpClient _owner = null!;
    HttpClient _other = null!;
    Guid _batchId;
    Guid _othersBatchId;
    HashSet<Guid> _runningAtCancel = [];

    [OneTimeSetUp]
    public async Task StartThenPublishCancelBatch()
    {
        _cluster = await PlatformCluster.Start(nameof(When_a_batch_is_cancelled_over_the_bus), orchestrators: 1, workers: 2);
        _owner = await _cluster.CreateUser(OwnerId, "starter");
        _other = await _cluster.CreateUser("bus-other", "starter");

        // Connected before the batch starts, so that the commands leave the moment the tasks are running.
        var bus = Bus(_cluster.RabbitMq);
        await bus.StartAsync();
        try
        {
            _batchId = await PlatformCluster.SubmitBatch(_owner, "twelve slow companies", BatchRows.Inputs(TaskCount, durationMs: 30_000));
            _othersBatchId = await PlatformCluster.SubmitBatch(_other, "someone else's", BatchRows.Inputs(2, durationMs: 30_000));
            await Poll.Until(() => BatchRows.StartedAndRunning(_cluster, _batchId), n => n == 3, TimeSpan.FromSeconds(30), "three tasks to start");
            _runningAtCancel = (await BatchRows.Tasks(_cluster, _batchId)).Where(t => t.Status == "running").Select(t => t.TaskId).ToHashSet();

            // Published before the owner's command: by the time the owner's batch has ended, these have been handled.
            await bus.Publish(new CancelBatch(_othersBatchId, OwnerId, DateTimeOffset.UtcNow));
            await bus.Publish(new CancelBatch(Guid.NewGuid(), OwnerId, DateTimeOffset.UtcNow));
            await bus.Publish(new CancelBatch(_batchId, OwnerId, DateTimeOffset.UtcNow));
            await bus.Publish(new CancelBatch(_batchId, OwnerId, DateTimeOffset.UtcNow));
        }
        finally
        {
            await bus.StopAsync();
        }

        await BatchRows.WaitForStatus(_cluster, _owner, _batchId, "cancelled", TimeSpan.FromSeconds(30));
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _owner?.Dispose();
        _other?.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public async Task Should_end_every_task_cancelled_the_queued_ones_without_starting()
    {
        var rows = await BatchRows.Tasks(_cluster, _batchId);

        Assert.Multiple(() =>
        {
            Assert.That(_runningAtCancel, Has.Count.EqualTo(3));
            Assert.That(rows.Select(t => t.Status), Is.All.EqualTo("cancelled"));
            Assert.That(rows.Where(t => !_runningAtCancel.Contains(t.TaskId)).Select(t => t.StartedAt), Is.All.Null);
            Assert.That(rows.Where(t => _runningAtCancel.Contains(t.TaskId)).Select(t => t.StartedAt), Is.All.Not.Null);
        });
    }

    [Test]
    public async Task Should_count_each_task_once_however_often_the_command_arrived()
    {
        var rows = await BatchRows.Tasks(_cluster, _batchId);
        var saga = await BatchRows.Saga(_cluster, _batchId);
        var (used, reserved) = await BatchRows.Usage(_cluster, OwnerId);

        Assert.Multiple(() =>
        {
            Assert.That(saga.State, Is.EqualTo("Cancelled"));
            Assert.That((saga.Completed, saga.Failed, saga.Cancelled), Is.EqualTo((0, 0, TaskCount)));
            Assert.That(rows.Select(t => t.Counted), Is.All.True);
            Assert.That((used, reserved), Is.EqualTo((0, 0)));
        });
    }

    [Test]
    public async Task Should_leave_another_user_s_batch_alone()
    {
        var requested = await _cluster.Scalar<bool>("SELECT cancel_requested_at IS NOT NULL FROM batches WHERE batch_id = $1", _othersBatchId);
        var statuses = (await BatchRows.Tasks(_cluster, _othersBatchId)).Select(t => t.Status).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(requested, Is.False, "a CancelBatch naming the wrong owner changes nothing");
            Assert.That(statuses, Has.None.EqualTo("cancelled"));
        });
    }

    [Test]
    public async Task Should_drop_commands_it_cannot_carry_out_rather_than_fault()
    {
        using var management = await LocalInfrastructure.ManagementClient();
        var vhost = Uri.EscapeDataString(new Uri(_cluster.RabbitMq).AbsolutePath.Trim('/'));
        var errors = await management.GetFromJsonAsync<JsonObject>($"/api/queues/{vhost}/cancel-batch_error");

        Assert.That(errors!["messages"]?.GetValue<int>() ?? 0, Is.Zero);
    }

    /// <summary>A bus of an internal service on the cluster's virtual host, publishing only.</summary>
    static IBusControl Bus(string amqp)
    {
        var uri = new Uri(amqp);
        var credentials = Uri.UnescapeDataString(uri.UserInfo).Split(':', 2);
        return MassTransit.Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(uri.Host, (ushort)uri.Port, Uri.UnescapeDataString(uri.AbsolutePath.Trim('/')), h =>
        {
            h.Username(credentials[0]);
            h.Password(credentials[1]);
        }));
    }
}
