using Platform.Testing;

namespace Platform.Streams.Tests;

/// <summary>
/// A subscriber to a batch of 200 short tasks, on the intake that did not take the submission, is cut off mid-batch
/// (its read cancelled, the connection dropped) and reconnects with <c>Last-Event-ID</c>.
/// </summary>
[TestFixture]
public sealed class When_a_batch_is_watched_across_a_disconnect
{
    const int TaskCount = 200;
    const int ReadBeforeDisconnect = 50;

    static PlatformCluster Cluster => AssemblySetup.Cluster;

    readonly List<ServerSentEvent> _first = [];
    readonly List<ServerSentEvent> _second = [];
    Guid _batchId;
    bool _secondEnded;

    [OneTimeSetUp]
    public async Task WatchDisconnectAndResume()
    {
        using var submitter = await Cluster.CreateUser("resume-user", "enterprise");
        _batchId = await PlatformCluster.SubmitBatch(submitter, "resumed",
            Enumerable.Range(0, TaskCount).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs = 100 + i % 7 * 50 } }));

        using var other = Cluster.Client(submitter.DefaultRequestHeaders.Authorization!.Parameter, intake: 1);
        other.Timeout = Timeout.InfiniteTimeSpan;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(120));

        // First connection: read some task events, then cut it off as a network failure would.
        using (var cut = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token))
        {
            using var first = await EventStreamReader.Open(other, $"/v1/batches/{_batchId}/events", cancellationToken: cut.Token);
            Assert.That(first.ContentType, Is.EqualTo("text/event-stream"));
            while (_first.Count(e => e.Name == "task") < ReadBeforeDisconnect)
                _first.Add(await first.Next(cut.Token) ?? throw new AssertionException("the stream ended before the disconnect"));
            await cut.CancelAsync();
        }

        var lastId = _first[^1].Id;
        using var second = await EventStreamReader.Open(other, $"/v1/batches/{_batchId}/events", lastId, deadline.Token);
        while (await second.Next(deadline.Token) is { } e)
            _second.Add(e);
        _secondEnded = second.Ended;
    }

    [Test]
    public async Task Should_send_every_task_s_terminal_event_exactly_once()
    {
        var rows = await Cluster.Query("SELECT task_id, key, status FROM tasks WHERE batch_id = $1",
            r => (TaskId: r.GetGuid(0).ToString(), Key: r.GetString(1), Status: r.GetString(2)), _batchId);
        var tasks = _first.Concat(_second).Where(e => e.Name == "task").Select(e => e.Json).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(_second.Count(e => e.Name == "task"), Is.GreaterThan(0), "the disconnect happened mid-batch");
            Assert.That(tasks.Select(t => t["taskId"]!.GetValue<string>()), Is.Unique, "no task twice");
            Assert.That(tasks.Select(t => t["taskId"]!.GetValue<string>()), Is.EquivalentTo(rows.Select(r => r.TaskId)), "every task once");
            Assert.That(tasks.Select(t => (t["key"]!.GetValue<string>(), t["status"]!.GetValue<string>())),
                Is.EquivalentTo(rows.Select(r => (r.Key, r.Status))), "each event says the row's terminal state");
        });
    }

    [Test]
    public void Should_send_finished_last_and_end_the_stream()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_second, Is.Not.Empty);
            Assert.That(_second[^1].Name, Is.EqualTo("finished"));
            Assert.That(_second[^1].Json["status"]!.GetValue<string>(), Is.EqualTo("completed"));
            Assert.That(_second[^1].Json["completed"]!.GetValue<int>(), Is.EqualTo(TaskCount));
            Assert.That(_second.Count(e => e.Name == "finished"), Is.EqualTo(1));
            Assert.That(_secondEnded, Is.True, "the server ended the response after finished");
        });
    }

    [Test]
    public void Should_begin_each_connection_with_progress_and_give_every_event_an_id()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_first[0].Name, Is.EqualTo("progress"));
            Assert.That(_second[0].Name, Is.EqualTo("progress"));
            Assert.That(_first.Concat(_second).Select(e => e.Id), Is.All.Not.Null.And.Not.Empty);
            Assert.That(_first[0].Json["batchId"]!.GetValue<string>(), Is.EqualTo(_batchId.ToString()));
        });
    }
}
