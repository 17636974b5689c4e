using System.Diagnostics;
using System.Net;
using Platform.Testing;

namespace Platform.Streams.Tests;

/// <summary>A user's key is rotated while their queue stream is open: the old key answers 401 at once, so must the stream.</summary>
[TestFixture]
public sealed class When_a_watcher_s_key_is_rotated
{
    static PlatformCluster Cluster => AssemblySetup.Cluster;

    TimeSpan _endedAfter;
    bool _ended;
    HttpStatusCode _reconnect;

    [OneTimeSetUp]
    public async Task RotateUnderAnOpenStream()
    {
        using var user = await Cluster.CreateUser("rotated-watcher", "starter");
        var oldKey = user.DefaultRequestHeaders.Authorization!.Parameter;
        using var watcher = Cluster.Client(oldKey, intake: 1);
        watcher.Timeout = Timeout.InfiniteTimeSpan;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var stream = await EventStreamReader.Open(watcher, "/v1/events", cancellationToken: deadline.Token);
        Assert.That((await stream.Next(deadline.Token))?.Name, Is.EqualTo("queue"));

        using var admin = Cluster.Client();
        using (var rotate = await admin.PostAsync("/v1/users/rotated-watcher/api-key", null))
            await PlatformCluster.EnsureSuccess(rotate);
        var rotated = Stopwatch.StartNew();
        try
        {
            while (await stream.Next(deadline.Token) is not null)
            {
            }
            _ended = true;
        }
        catch (OperationCanceledException)
        {
        }
        _endedAfter = rotated.Elapsed;

        using var again = await watcher.GetAsync("/v1/events", HttpCompletionOption.ResponseHeadersRead);
        _reconnect = again.StatusCode;
    }

    [Test]
    public void Should_end_the_open_stream_within_a_poll_interval()
    {
        TestContext.Out.WriteLine($"the stream ended {_endedAfter.TotalSeconds:0.0} s after the rotation");
        // The check runs at most once a poll interval (5 s by default), after a wake-up or the poll itself.
        Assert.That(_ended, Is.True, "the stream was still open 30 s after its key was rotated");
    }

    [Test]
    public void Should_refuse_the_old_key_on_reconnect() => Assert.That(_reconnect, Is.EqualTo(HttpStatusCode.Unauthorized));
}
