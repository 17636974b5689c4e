using System.Text;
using Platform.Cli.Watching;

namespace Platform.Cli.Tests;

public sealed class When_an_event_stream_is_read
{
    [Test]
    public async Task Should_parse_events_ids_and_multi_line_data_and_skip_comments()
    {
        const string text = ": keep-alive\n\nid: 1\nevent: progress\ndata: {\"a\":\ndata: 1}\n\n: keep-alive\n\nevent: task\ndata:{\"b\":2}\n\nid: 3\nevent: finished\ndata: {}\n\n";
        var events = await Read(text);

        Assert.That(events, Is.EqualTo(new[]
        {
            new ServerSentEvent("1", "progress", "{\"a\":\n1}"),
            // No id of its own: the last one seen stays the resume point (the WHATWG model).
            new ServerSentEvent("1", "task", "{\"b\":2}"),
            new ServerSentEvent("3", "finished", "{}"),
        }));
    }

    [Test]
    public async Task Should_drop_an_event_the_stream_ended_in_the_middle_of()
    {
        var events = await Read("id: 1\nevent: progress\ndata: {}\n\nid: 2\nevent: task\ndata: {\"half\"");

        Assert.That(events.Select(e => e.Id), Is.EqualTo(new[] { "1" }));
    }

    [Test]
    public void Should_fail_when_the_stream_is_silent_longer_than_the_idle_limit()
    {
        // A pipe nobody writes to: the connection of a server that vanished without closing it.
        var pipe = new System.IO.Pipelines.Pipe();

        Assert.ThrowsAsync<IOException>(async () =>
        {
            await foreach (var _ in ServerSentEvents.Read(pipe.Reader.AsStream(), TimeSpan.FromMilliseconds(200), CancellationToken.None))
            {
            }
        });
    }

    static async Task<List<ServerSentEvent>> Read(string text)
    {
        var events = new List<ServerSentEvent>();
        await foreach (var e in ServerSentEvents.Read(new MemoryStream(Encoding.UTF8.GetBytes(text)), TimeSpan.FromSeconds(5), CancellationToken.None))
            events.Add(e);
        return events;
    }
}
