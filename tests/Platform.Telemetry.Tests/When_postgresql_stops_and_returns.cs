using System.Diagnostics;
using System.Net;
using Platform.Testing;

namespace Platform.Telemetry.Tests;

/// <summary>
/// Every service on a dedicated PostgreSQL + RabbitMQ pair (its own ports: stopping it touches no one else's tests):
/// readiness answers 503 while PostgreSQL is down and 200 again once it is back; liveness stays 200 throughout.
/// </summary>
[TestFixture]
public sealed class When_postgresql_stops_and_returns
{
    static readonly LocalServers Pair = LocalServers.Dedicated("telemetry", 57432, 57672);

    PlatformCluster _cluster = null!;
    readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    readonly Dictionary<string, (TimeSpan Unready, TimeSpan Ready, HttpStatusCode LiveWhileDown)> _seen = [];
    TimeSpan _downFor;
    string _report = "";

    [OneTimeSetUp]
    public async Task StopAndStartPostgres()
    {
        await Pair.Start();
        _cluster = await PlatformCluster.Start(nameof(When_postgresql_stops_and_returns), orchestrators: 1, workers: 1, servers: Pair);

        var before = await Task.WhenAll(_cluster.Services.Select(s => Status(s, "/health/ready")));
        Assert.That(before, Is.All.EqualTo(HttpStatusCode.OK), "every service is ready before the drill");

        var stopped = Stopwatch.StartNew();
        await Pair.Stop("postgres");
        var unready = new Dictionary<string, TimeSpan>();
        var live = new Dictionary<string, HttpStatusCode>();
        foreach (var service in _cluster.Services)
        {
            await Poll.Until(async () => await Status(service, "/health/ready") == HttpStatusCode.ServiceUnavailable,
                TimeSpan.FromSeconds(60), $"{service.Name} to report unready", TimeSpan.FromMilliseconds(250));
            unready[service.Name] = stopped.Elapsed;
            live[service.Name] = await Status(service, "/health/live");
        }

        var started = Stopwatch.StartNew();
        await Pair.Up();
        _downFor = stopped.Elapsed;
        var upTook = started.Elapsed;
        foreach (var service in _cluster.Services)
        {
            await Poll.Until(async () => await Status(service, "/health/ready") == HttpStatusCode.OK,
                TimeSpan.FromSeconds(120), $"{service.Name} to report ready again", TimeSpan.FromMilliseconds(250));
            _seen[service.Name] = (unready[service.Name], started.Elapsed, live[service.Name]);
        }

        _report = $"PostgreSQL stopped, then started again (local.sh up took {upTook.TotalSeconds:F1} s), {_downFor.TotalSeconds:F1} s after the stop began\n" + string.Join("\n", _seen.Select(e =>
            $"  {e.Key,-16} /health/ready 503 {e.Value.Unready.TotalSeconds,5:F1} s after the stop began (live: {(int)e.Value.LiveWhileDown}); " +
            $"200 again {e.Value.Ready.TotalSeconds,5:F1} s after the restart began"));
        TestContext.Progress.WriteLine(_report);
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        if (_cluster is not null)
            await _cluster.DisposeAsync();
        _http.Dispose();
        // The pair is this fixture's alone: leave nothing running behind it.
        await Pair.Stop();
    }

    [Test]
    public void Should_turn_every_service_unready_while_postgresql_is_down_and_ready_after()
    {
        TestContext.Out.WriteLine(_report);
        Assert.Multiple(() =>
        {
            Assert.That(_seen.Keys, Is.EquivalentTo(new[] { "orchestrator-1", "worker-1", "intake-1" }));
            Assert.That(_seen.Values.Select(s => s.Ready), Is.All.LessThan(TimeSpan.FromSeconds(120)));
        });
    }

    [Test]
    public void Should_stay_live_while_postgresql_is_down()
    {
        Assert.That(_seen.Values.Select(s => s.LiveWhileDown), Is.All.EqualTo(HttpStatusCode.OK));
    }

    async Task<HttpStatusCode> Status(ServiceProcess service, string path)
    {
        try
        {
            using var response = await _http.GetAsync(new Uri(service.BaseAddress, path));
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return 0;
        }
        catch (TaskCanceledException)
        {
            return HttpStatusCode.RequestTimeout;
        }
    }
}
