using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Intake.Tests.Endpoints;

/// <summary>
/// One caller floods the API past a small limit (40 requests a minute) while another goes on working: the flooder gets
/// 429s that say the limit and when to come back, the other caller and the health probes never do.
/// </summary>
[TestFixture]
public sealed class When_a_caller_exceeds_the_rate_limit
{
    const int PermitLimit = 40;
    const int FloodRequests = 200;

    IntakeApplication _app = null!;
    HttpClient _flooder = null!;
    HttpClient _bystander = null!;
    readonly List<HttpStatusCode> _floodStatuses = [];
    readonly List<HttpStatusCode> _bystanderStatuses = [];
    readonly List<double> _before = [];
    readonly List<double> _during = [];
    string? _retryAfter;
    JsonNode? _problem;
    string? _problemMediaType;

    [OneTimeSetUp]
    public async Task Flood()
    {
        // A host of its own: the shared one runs the default limit, which no other test may trip.
        var database = await LocalInfrastructure.CreateDatabase("intake_rate");
        var rabbitMq = await LocalInfrastructure.CreateVirtualHost("intake_rate");
        _app = new IntakeApplication(database, rabbitMq, new Dictionary<string, string>
        {
            ["Platform:RateLimit:PermitLimit"] = PermitLimit.ToString(CultureInfo.InvariantCulture),
            ["Platform:RateLimit:Window"] = "00:01:00",
        });
        _app.UseKestrel(0);
        _app.StartServer();
        (_, _flooder) = await _app.CreateUser("flooder");
        (_, _bystander) = await _app.CreateUser("bystander");

        // One to warm up, ten before and fifteen during the flood: 26 of the bystander's own 40, even if a window turns over.
        await Timed(_bystander, []);
        for (var i = 0; i < 10; i++)
            _before.Add(await Timed(_bystander, _bystanderStatuses));

        var flood = Parallel.ForEachAsync(Enumerable.Range(0, FloodRequests), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, token) =>
        {
            using var response = await _flooder.GetAsync("/v1/batches", token);
            lock (_floodStatuses)
            {
                _floodStatuses.Add(response.StatusCode);
                if (response.StatusCode != HttpStatusCode.TooManyRequests || _problem is not null)
                    return;
                _retryAfter = response.Headers.TryGetValues("Retry-After", out var values) ? values.Single() : null;
                _problemMediaType = response.Content.Headers.ContentType?.MediaType;
            }

            var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync(token));
            lock (_floodStatuses)
                _problem ??= problem;
        });
        for (var i = 0; i < 15; i++)
            _during.Add(await Timed(_bystander, _bystanderStatuses));
        await flood;
    }

    [OneTimeTearDown]
    public async Task Dispose()
    {
        _flooder?.Dispose();
        _bystander?.Dispose();
        if (_app is not null)
            await _app.DisposeAsync();
    }

    static async Task<double> Timed(HttpClient client, List<HttpStatusCode> statuses)
    {
        var started = Stopwatch.GetTimestamp();
        using var response = await client.GetAsync("/v1/queue");
        statuses.Add(response.StatusCode);
        return Stopwatch.GetElapsedTime(started).TotalMilliseconds;
    }

    static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    [Test]
    public void Should_answer_the_flooder_429_once_over_its_limit()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_floodStatuses, Has.Count.EqualTo(FloodRequests));
            Assert.That(_floodStatuses.Count(s => s == HttpStatusCode.OK), Is.InRange(1, 2 * PermitLimit), "at most a window's worth, twice if a window turned over");
            Assert.That(_floodStatuses, Has.All.EqualTo(HttpStatusCode.OK).Or.EqualTo(HttpStatusCode.TooManyRequests));
        });
    }

    [Test]
    public void Should_say_the_limit_and_when_to_retry()
    {
        Assert.Multiple(() =>
        {
            Assert.That(int.TryParse(_retryAfter, CultureInfo.InvariantCulture, out var seconds) ? seconds : -1, Is.InRange(1, 60), $"Retry-After: {_retryAfter}");
            Assert.That(_problemMediaType, Is.EqualTo("application/problem+json"));
            Assert.That(_problem?["type"]?.GetValue<string>(), Is.EqualTo("https://platform.local/problems/rate-limited"));
            Assert.That(_problem?["status"]?.GetValue<int>(), Is.EqualTo(429));
            Assert.That(_problem?["detail"]?.GetValue<string>(), Does.Contain($"at most {PermitLimit} requests per 60 s per caller"), _problem?.ToJsonString());
        });
    }

    [Test]
    public void Should_keep_answering_another_user_during_the_flood()
    {
        // Printed, not asserted: on two shared cores the flood's own CPU slows everyone a little, limited or not.
        TestContext.Out.WriteLine(FormattableString.Invariant(
            $"bystander GET /v1/queue latency, ms: before the flood median {Median(_before):0.0} (max {_before.Max():0.0}); during it median {Median(_during):0.0} (max {_during.Max():0.0})"));
        TestContext.Out.WriteLine(FormattableString.Invariant(
            $"flooder: {_floodStatuses.Count(s => s == HttpStatusCode.OK)} answered 200, {_floodStatuses.Count(s => s == HttpStatusCode.TooManyRequests)} answered 429"));
        Assert.That(_bystanderStatuses, Has.Count.EqualTo(25).And.All.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Should_never_limit_the_health_endpoints()
    {
        using var anonymous = _app.Client(apiKey: null);
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < PermitLimit + 10; i++)
        {
            foreach (var path in new[] { "/health/live", "/health/ready" })
            {
                using var response = await anonymous.GetAsync(path);
                statuses.Add(response.StatusCode);
            }
        }

        Assert.That(statuses, Has.All.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Should_limit_a_caller_without_a_valid_key_by_its_address()
    {
        using var anonymous = _app.Client("pk_not-a-key-anyone-was-given");
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < PermitLimit + 10; i++)
        {
            using var response = await anonymous.GetAsync("/v1/batches");
            statuses.Add(response.StatusCode);
        }

        Assert.Multiple(() =>
        {
            Assert.That(statuses, Has.Some.EqualTo(HttpStatusCode.Unauthorized), "refused as unauthenticated first");
            Assert.That(statuses, Has.Some.EqualTo(HttpStatusCode.TooManyRequests), "then limited as one caller");
        });
    }
}
