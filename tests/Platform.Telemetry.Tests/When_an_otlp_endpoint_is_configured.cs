using System.Diagnostics;
using Platform.Testing;

namespace Platform.Telemetry.Tests;

/// <summary>
/// Real service processes with <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> pointing at a stand-in OTLP/HTTP collector: each one
/// exports its spans and Platform's metrics there, tagged with its <c>OTEL_SERVICE_NAME</c>.
/// </summary>
[TestFixture]
public sealed class When_an_otlp_endpoint_is_configured
{
    static readonly string[] Services = ["intake-1", "orchestrator-1", "worker-1"];
    static readonly string[] SpanNames = ["submit batch", "dispatch task", "run task", "research analyze"];
    static readonly string[] MetricNames = ["platform.tasks.accepted", "platform.tasks.dispatched", "platform.tasks.queued", "platform.tasks.running",
        "platform.dispatch.latency", "platform.dispatch.decision.duration", "platform.task.duration"];

    OtlpReceiver _receiver = null!;
    PlatformCluster _cluster = null!;
    string _report = "";

    [OneTimeSetUp]
    public async Task RunABatchWithExportOn()
    {
        _receiver = await OtlpReceiver.Start();
        _cluster = await PlatformCluster.Start(nameof(When_an_otlp_endpoint_is_configured), orchestrators: 1, workers: 1, settings: new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _receiver.Endpoint.ToString(),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "1000",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "500",
            ["Platform__Metrics__QueueSampleInterval"] = "00:00:01",
            // Events, not the reconciler's timer, dispatch here: the dispatch latency is measured from the triggering event.
            ["Platform__Reconciler__Interval"] = "01:00:00",
        });

        using var user = await _cluster.CreateUser("otlp-user", "starter");
        var watch = Stopwatch.StartNew();
        var batchId = await PlatformCluster.SubmitBatch(user, "exported", Enumerable.Range(0, 2).Select(i => (object)new { company = $"C{i}", simulate = new { durationMs = 200 } }));
        await Poll.Until(async () => (await PlatformCluster.GetJson(user, $"/v1/batches/{batchId}"))["status"]!.GetValue<string>() == "completed",
            TimeSpan.FromSeconds(60), "the batch to complete");

        try
        {
            await Poll.Until(() => Task.FromResult(Services.All(s => Traces.Any(r => r.Contains(s))) && SpanNames.All(n => Traces.Any(r => r.Contains(n)))
                                                   && MetricNames.All(m => Metrics.Any(r => r.Contains(m)))),
                TimeSpan.FromSeconds(30), "spans of every service and Platform's metrics at the receiver");
        }
        finally
        {
            var missing = Services.Where(s => !Traces.Any(r => r.Contains(s))).Select(s => $"spans of {s}")
                .Concat(SpanNames.Where(n => !Traces.Any(r => r.Contains(n))).Select(n => $"span '{n}'"))
                .Concat(MetricNames.Where(m => !Metrics.Any(r => r.Contains(m))).Select(m => $"metric {m}"))
                .ToList();
            _report = (missing.Count > 0 ? $"missing at the receiver: {string.Join(", ", missing)}\n" : "") +
                      $"receiver {_receiver.Endpoint}: {Traces.Count} POST /v1/traces ({Traces.Sum(r => r.Body.Length)} bytes), " +
                      $"{Metrics.Count} POST /v1/metrics ({Metrics.Sum(r => r.Body.Length)} bytes) by {watch.Elapsed.TotalSeconds:F1} s after the POST\n" +
                      string.Join("\n", Services.Select(s => $"  {s}: {Traces.Count(r => r.Contains(s))} trace exports, {Metrics.Count(r => r.Contains(s))} metric exports"));
            TestContext.Progress.WriteLine(_report);
        }
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        if (_cluster is not null)
            await _cluster.DisposeAsync();
        if (_receiver is not null)
            await _receiver.DisposeAsync();
    }

    IReadOnlyList<OtlpRequest> Traces => [.. _receiver.Requests.Where(r => r.Path == "/v1/traces")];

    IReadOnlyList<OtlpRequest> Metrics => [.. _receiver.Requests.Where(r => r.Path == "/v1/metrics")];

    [Test]
    public void Should_post_protobuf_spans_of_every_service_to_v1_traces()
    {
        TestContext.Out.WriteLine(_report);
        Assert.Multiple(() =>
        {
            Assert.That(Traces, Is.Not.Empty);
            Assert.That(Traces.Select(r => r.ContentType), Is.All.EqualTo("application/x-protobuf"));
            Assert.That(Traces.Select(r => r.Body.Length), Is.All.GreaterThan(0));
            foreach (var service in Services)
                Assert.That(Traces.Any(r => r.Contains(service)), Is.True, $"a span export names {service}");
            foreach (var span in SpanNames)
                Assert.That(Traces.Any(r => r.Contains(span)), Is.True, span);
        });
    }

    [Test]
    public void Should_post_platform_metrics_to_v1_metrics()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Metrics, Is.Not.Empty);
            foreach (var metric in MetricNames)
                Assert.That(Metrics.Any(r => r.Contains(metric)), Is.True, metric);
            Assert.That(Metrics.Any(r => r.Contains("messaging.masstransit.consume.duration")), Is.True, "MassTransit's own metrics");
        });
    }
}
