using System.Net;
using Platform.Testing;

namespace Platform.Streams.Tests;

/// <summary>The admin watches the fleet on <c>GET /v1/admin/events</c> while a user's batch arrives and runs.</summary>
[TestFixture]
public sealed class When_the_admin_watches_the_fleet
{
    static PlatformCluster Cluster => AssemblySetup.Cluster;

    readonly List<ServerSentEvent> _events = [];
    ServerSentEvent? _withTheUser;
    HttpStatusCode _userAsked;

    [OneTimeSetUp]
    public async Task WatchABatchArrive()
    {
        using var admin = Cluster.Client(intake: 1);
        admin.Timeout = Timeout.InfiniteTimeSpan;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var stream = await EventStreamReader.Open(admin, "/v1/admin/events", cancellationToken: deadline.Token);
        _events.Add(await stream.Next(deadline.Token) ?? throw new AssertionException("the stream ended at once"));

        using var user = await Cluster.CreateUser("fleet-watched", "starter");
        using (var refused = await user.GetAsync("/v1/admin/events", HttpCompletionOption.ResponseHeadersRead))
            _userAsked = refused.StatusCode;
        await PlatformCluster.SubmitBatch(user, "seen by the admin",
            Enumerable.Range(0, 6).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs = 2000 } }));

        // The submission and the tasks' starts are events: the fleet's view follows them, not a timer of the page's.
        while (_withTheUser is null && await stream.Next(deadline.Token) is { } e)
        {
            _events.Add(e);
            if (e.Name == "fleet" && e.Json["shares"]!.AsArray().Any(s => s!["userId"]!.GetValue<string>() == "fleet-watched" && s["running"]!.GetValue<int>() > 0))
                _withTheUser = e;
        }
    }

    [Test]
    public void Should_start_with_the_fleet_as_get_fleet_answers_it()
    {
        var first = _events[0];
        Assert.Multiple(() =>
        {
            Assert.That(first.Name, Is.EqualTo("fleet"));
            Assert.That(first.Id, Is.Not.Null.And.Not.Empty);
            Assert.That(first.Json["capacity"]!.GetValue<int>(), Is.GreaterThan(0));
            Assert.That(first.Json["workers"]!.AsArray(), Is.Not.Empty);
        });
    }

    [Test]
    public void Should_show_a_user_s_work_as_it_starts()
    {
        Assert.That(_withTheUser, Is.Not.Null, "no fleet event showed the user running within 60 s");
        Assert.That(_events.Select(e => e.Id), Is.Unique, "each fleet event has an id of its own");
    }

    [Test]
    public void Should_refuse_a_user() => Assert.That(_userAsked, Is.EqualTo(HttpStatusCode.Forbidden));
}
