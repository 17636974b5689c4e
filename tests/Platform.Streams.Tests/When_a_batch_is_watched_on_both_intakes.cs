using Platform.Testing;

namespace Platform.Streams.Tests;

/// <summary>Two subscribers to one batch, one on each intake instance: each instance hears the events on its own queue.</summary>
[TestFixture]
public sealed class When_a_batch_is_watched_on_both_intakes
{
    const int TaskCount = 60;

    static PlatformCluster Cluster => AssemblySetup.Cluster;

    [Test]
    public async Task Should_stream_every_task_and_finished_from_each_intake()
    {
        using var owner = await Cluster.CreateUser("both-intakes-user", "enterprise");
        var key = owner.DefaultRequestHeaders.Authorization!.Parameter;
        using var viaFirst = Cluster.Client(key, intake: 0);
        using var viaSecond = Cluster.Client(key, intake: 1);
        viaFirst.Timeout = viaSecond.Timeout = Timeout.InfiniteTimeSpan;

        var batchId = await PlatformCluster.SubmitBatch(viaFirst, "both intakes",
            Enumerable.Range(0, TaskCount).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs = 200 } }));
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var streams = await Task.WhenAll(ReadAll(viaFirst, batchId, deadline.Token), ReadAll(viaSecond, batchId, deadline.Token));

        Assert.Multiple(() =>
        {
            foreach (var (events, intake) in streams.Select((e, i) => (e, i + 1)))
            {
                var tasks = events.Where(e => e.Name == "task").Select(e => e.Json["taskId"]!.GetValue<string>()).ToList();
                Assert.That(tasks, Has.Count.EqualTo(TaskCount).And.Unique, $"intake-{intake}: each task once");
                Assert.That(events[^1].Name, Is.EqualTo("finished"), $"intake-{intake}: finished last");
            }
        });
    }

    static async Task<List<ServerSentEvent>> ReadAll(HttpClient http, Guid batchId, CancellationToken cancellationToken)
    {
        using var stream = await EventStreamReader.Open(http, $"/v1/batches/{batchId}/events", cancellationToken: cancellationToken);
        var events = new List<ServerSentEvent>();
        while (await stream.Next(cancellationToken) is { } e)
            events.Add(e);
        return events;
    }
}
