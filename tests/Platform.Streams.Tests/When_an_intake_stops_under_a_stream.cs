using System.Diagnostics;
using Platform.Testing;

namespace Platform.Streams.Tests;

/// <summary>
/// An intake instance is stopped (SIGTERM) while it serves a batch's stream: the stream must end at once rather than
/// hold the shutdown, and the client resumes on another instance with its last id.
/// </summary>
[TestFixture]
public sealed class When_an_intake_stops_under_a_stream
{
    const int TaskCount = 100;

    static PlatformCluster Cluster => AssemblySetup.Cluster;

    readonly List<ServerSentEvent> _before = [];
    readonly List<ServerSentEvent> _after = [];
    TimeSpan _stopped;
    bool _endedAtStop;
    Guid _batchId;

    [OneTimeSetUp]
    public async Task StopTheIntakeMidStream()
    {
        using var owner = await Cluster.CreateUser("stopping-intake-user", "enterprise");
        var key = owner.DefaultRequestHeaders.Authorization!.Parameter;
        var extra = await Cluster.StartService("Platform.Intake", "intake-stopping");
        _batchId = await PlatformCluster.SubmitBatch(owner, "outlives its intake",
            Enumerable.Range(0, TaskCount).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs = 1000 } }));
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(120));

        using (var viaExtra = new HttpClient { BaseAddress = extra.BaseAddress, Timeout = Timeout.InfiniteTimeSpan })
        {
            viaExtra.DefaultRequestHeaders.Authorization = new("Bearer", key);
            using var stream = await EventStreamReader.Open(viaExtra, $"/v1/batches/{_batchId}/events", cancellationToken: deadline.Token);
            while (_before.Count(e => e.Name == "task") < 10)
                _before.Add(await stream.Next(deadline.Token) ?? throw new AssertionException("the stream ended early"));

            var watch = Stopwatch.StartNew();
            var stop = extra.Stop(TimeSpan.FromSeconds(60));
            while (await stream.Next(deadline.Token) is { } e)
                _before.Add(e);
            _endedAtStop = stream.Ended;
            await stop;
            _stopped = watch.Elapsed;
        }

        using var other = Cluster.Client(key, intake: 0);
        other.Timeout = Timeout.InfiniteTimeSpan;
        using var resumed = await EventStreamReader.Open(other, $"/v1/batches/{_batchId}/events", _before[^1].Id, deadline.Token);
        while (await resumed.Next(deadline.Token) is { } e)
            _after.Add(e);
    }

    [Test]
    public void Should_end_the_stream_and_let_the_instance_stop_promptly()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_endedAtStop, Is.True, "the response ended");
            Assert.That(_before.Select(e => e.Name), Does.Not.Contain("finished"), "it ended before the batch did");
            // The host's shutdown timeout is 30 s: a stream that held the shutdown would take that long.
            Assert.That(_stopped, Is.LessThan(TimeSpan.FromSeconds(15)));
        });
    }

    [Test]
    public async Task Should_resume_on_another_instance_with_every_task_once()
    {
        var tasks = _before.Concat(_after).Where(e => e.Name == "task").Select(e => e.Json["taskId"]!.GetValue<string>()).ToList();
        var rows = await Cluster.Query("SELECT task_id FROM tasks WHERE batch_id = $1", r => r.GetGuid(0).ToString(), _batchId);
        Assert.Multiple(() =>
        {
            Assert.That(tasks, Is.Unique);
            Assert.That(tasks, Is.EquivalentTo(rows));
            Assert.That(_after[^1].Name, Is.EqualTo("finished"));
        });
    }
}
