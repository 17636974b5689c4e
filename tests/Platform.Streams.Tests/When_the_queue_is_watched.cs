using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Streams.Tests;

/// <summary>A user watches their whole queue on <c>GET /v1/events</c> while a batch runs through their desks.</summary>
[TestFixture]
public sealed class When_the_queue_is_watched
{
    const int TaskCount = 12;

    static PlatformCluster Cluster => AssemblySetup.Cluster;

    readonly List<ServerSentEvent> _events = [];
    Guid _batchId;
    int _heartbeats;

    [OneTimeSetUp]
    public async Task WatchABatchRun()
    {
        using var owner = await Cluster.CreateUser("queue-watcher", "starter");
        using var watcher = Cluster.Client(owner.DefaultRequestHeaders.Authorization!.Parameter, intake: 1);
        watcher.Timeout = Timeout.InfiniteTimeSpan;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        using var stream = await EventStreamReader.Open(watcher, "/v1/events", cancellationToken: deadline.Token);
        _events.Add(await stream.Next(deadline.Token) ?? throw new AssertionException("the stream ended at once"));

        _batchId = await PlatformCluster.SubmitBatch(owner, "watched",
            Enumerable.Range(0, TaskCount).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs = 300 } }));
        while (await stream.Next(deadline.Token) is { } e)
        {
            _events.Add(e);
            if (e.Name == "progress" && e.Json["batchId"]!.GetValue<string>() == _batchId.ToString() && e.Json["finishedAt"] is not null)
                break;
        }
        // One more heartbeat interval: the idle stream must say it is alive.
        using var idle = new CancellationTokenSource(TimeSpan.FromSeconds(AssemblySetup.HeartbeatSeconds * 3));
        var before = stream.Comments;
        try
        {
            while (stream.Comments == before && await stream.Next(idle.Token) is not null)
            {
            }
        }
        catch (OperationCanceledException)
        {
        }
        _heartbeats = stream.Comments - before;
    }

    [Test]
    public void Should_start_with_the_queue_as_get_queue_answers_it()
    {
        var first = _events[0];
        Assert.Multiple(() =>
        {
            Assert.That(first.Name, Is.EqualTo("queue"));
            Assert.That(first.Id, Is.Not.Null.And.Not.Empty);
            Assert.That(first.Json["tier"]!.GetValue<string>(), Is.EqualTo("starter"));
            Assert.That(first.Json["slots"]!.AsArray(), Has.Count.EqualTo(3), "one desk per slot");
        });
    }

    [Test]
    public void Should_show_the_batch_s_tasks_on_the_desks_and_its_progress_to_the_end()
    {
        var desks = _events.Where(e => e.Name == "queue")
            .SelectMany(e => e.Json["slots"]!.AsArray().Select(s => s!.AsObject()))
            .Where(s => s["batchId"]?.GetValue<string>() == _batchId.ToString()).ToList();
        var progress = _events.Where(e => e.Name == "progress" && e.Json["batchId"]!.GetValue<string>() == _batchId.ToString()).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(desks, Is.Not.Empty, "a desk showed one of the batch's tasks");
            Assert.That(desks.Select(d => d["key"]?.GetValue<string>()), Is.All.StartsWith("task-"), "with its key");
            Assert.That(progress, Has.Count.GreaterThan(1), "progress as the counters changed");
            Assert.That(progress[^1].Json["completed"]!.GetValue<int>(), Is.EqualTo(TaskCount));
            Assert.That(progress[^1].Json["status"]!.GetValue<string>(), Is.EqualTo("completed"));
            Assert.That(_heartbeats, Is.GreaterThan(0), "a keep-alive comment on an idle stream");
        });
    }

    [Test]
    public async Task Should_list_the_users_for_the_admin_only()
    {
        using var admin = Cluster.Client();
        var page = await PlatformCluster.GetJson(admin, "/v1/users?limit=1000");
        var watcher = page["items"]!.AsArray().Select(u => u!.AsObject()).SingleOrDefault(u => u["userId"]!.GetValue<string>() == "queue-watcher");
        using var user = await Cluster.CreateUser("users-list-reader", "free");
        using var refused = await user.GetAsync("/v1/users");
        using var badLimit = await admin.GetAsync("/v1/users?limit=0");

        Assert.Multiple(() =>
        {
            Assert.That(page["total"]!.GetValue<int>(), Is.GreaterThanOrEqualTo(page["items"]!.AsArray().Count));
            Assert.That(watcher, Is.Not.Null);
            Assert.That(watcher?["tier"]?.GetValue<string>(), Is.EqualTo("starter"));
            Assert.That(watcher?["concurrency"]?.GetValue<int>(), Is.EqualTo(3));
            Assert.That(watcher?["usedThisMonth"]?.GetValue<int>(), Is.EqualTo(TaskCount));
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That(badLimit.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        });
    }
}
