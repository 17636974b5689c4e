using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Trace;
using Platform.Orchestrator;
using Platform.ServiceDefaults;
using Platform.Testing;
using Platform.Worker;

namespace Platform.Telemetry.Tests;

/// <summary>
/// Intake, orchestrator and worker hosted in this process (each with its own container, bus and outbox relay, as in
/// production) against the shared PostgreSQL and RabbitMQ; one 1-task batch; every span collected in memory through
/// the same sources the services export. The task's journey must be one tree rooted at the HTTP POST.
/// </summary>
[TestFixture]
public sealed class When_one_task_runs_through_every_service
{
    const string AdminKey = "telemetry-tests-admin-key-0123456789";

    readonly SpanCollector _collector = new();
    TracerProvider _tracing = null!;
    IHost? _orchestrator;
    IHost? _worker;
    IntakeHost? _intake;
    string _apiKey = "";
    Guid _batchId;
    Guid _taskId;
    IReadOnlyList<CollectedSpan> _trace = [];
    string _summary = "";

    [OneTimeSetUp]
    public async Task RunOneTask()
    {
        var name = nameof(When_one_task_runs_through_every_service);
        var database = await LocalInfrastructure.CreateDatabase(name);
        var rabbit = await LocalInfrastructure.CreateVirtualHost(name);
        _tracing = TelemetryExtensions.ConfigureTracing(Sdk.CreateTracerProviderBuilder())
            .AddProcessor(new SpanCollector.ServiceMarker())
            .AddInMemoryExporter(_collector.Exported)
            .Build();

        // Orchestrator first: its queues and bindings exist before intake publishes anything.
        // The reconciler (every second by default) would race the BatchSubmitted event to dispatch the task; this test
        // follows the event-driven path, so the reconciler waits an hour. (Its dispatches carry the task's trace too.)
        _orchestrator = await StartHost("orchestrator", database, rabbit, b =>
        {
            b.Configuration["Platform:Reconciler:Interval"] = "01:00:00";
            b.AddOrchestrator();
        });
        _worker = await StartHost("worker", database, rabbit, b => b.AddWorker());
        _intake = StartIntake(database, rabbit);

        using var admin = _intake.CreateClient();
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        using (var created = await admin.PostAsJsonAsync("/v1/users", new { userId = "trace-user", tier = "pro" }))
        {
            await PlatformCluster.EnsureSuccess(created);
            _apiKey = (await created.Content.ReadFromJsonAsync<JsonObject>())!["apiKey"]!.GetValue<string>();
        }

        // Probes answer, but leave no span behind (Should_not_trace_health_probes).
        foreach (var probe in new[] { "/health/live", "/health/ready" })
        {
            using var answer = await admin.GetAsync(probe);
            await PlatformCluster.EnsureSuccess(answer);
        }

        using var user = _intake.CreateClient();
        user.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _apiKey);
        var watch = Stopwatch.StartNew();
        _batchId = await PlatformCluster.SubmitBatch(user, "one traced company",
            [new { company = "Acme", simulate = new { durationMs = 400 } }]);

        await Poll.Until(async () => await Scalar<string>(database, "SELECT current_state FROM batch_states WHERE correlation_id = $1", _batchId) == "Completed",
            TimeSpan.FromSeconds(60), "the batch to complete");
        _taskId = await Scalar<Guid>(database, "SELECT task_id FROM tasks WHERE batch_id = $1", _batchId);
        var completedAfter = watch.Elapsed;

        var submit = await Poll.Until(() => Task.FromResult(_collector.Spans.FirstOrDefault(s =>
                s.Name == "submit batch" && s.Tag(PlatformTags.BatchId) == _batchId.ToString())),
            s => s is not null, TimeSpan.FromSeconds(10), "the submission's span");

        // The saga's last publish (BatchFinished) ends the journey; then wait until no span of the trace is still open.
        var last = 0;
        await Poll.Until(() =>
        {
            var trace = _collector.Trace(submit!.TraceId);
            var settled = trace.Any(s => s.Name.Contains("BatchFinished", StringComparison.Ordinal)) && trace.Count == last;
            last = trace.Count;
            return Task.FromResult(settled);
        }, TimeSpan.FromSeconds(30), "the trace to settle", TimeSpan.FromSeconds(1));
        _trace = SpanCollector.Attribute(_collector.Trace(submit!.TraceId));

        _summary = $"batch {_batchId}, task {_taskId}: completed {completedAfter.TotalMilliseconds:F0} ms after the POST\n" +
                   $"trace {submit.TraceId}: {_trace.Count} spans from {_trace.Select(s => s.Service).Distinct().Count()} services " +
                   $"({string.Join(", ", _trace.GroupBy(s => s.Service).Select(g => $"{g.Key} {g.Count()}"))}); {_collector.Spans.Count} spans collected in all";
        TestContext.Progress.WriteLine(_summary);
    }

    [OneTimeTearDown]
    public async Task StopHosts()
    {
        if (_intake is not null)
            await _intake.DisposeAsync();
        foreach (var host in new[] { _worker, _orchestrator })
        {
            if (host is null)
                continue;
            await host.StopAsync();
            host.Dispose();
        }

        _tracing?.Dispose();
    }

    [Test]
    public void Should_have_the_http_post_as_its_only_root()
    {
        var ids = _trace.Select(s => s.SpanId).ToHashSet();
        var roots = _trace.Where(s => !ids.Contains(s.ParentSpanId)).ToList();

        Assert.That(roots, Has.Count.EqualTo(1), "spans whose parent is not in the trace: " + string.Join(", ", roots.Select(r => r.Name)));
        Assert.Multiple(() =>
        {
            Assert.That(roots[0].Source, Is.EqualTo("Microsoft.AspNetCore"));
            Assert.That(roots[0].Kind, Is.EqualTo(ActivityKind.Server));
            Assert.That(roots[0].Name, Does.StartWith("POST /v1/batches"), "named after the route, as the semantic conventions say");
            Assert.That(roots[0].ParentSpanId, Is.EqualTo(default(ActivitySpanId)), "the POST has no parent at all");
        });
    }

    [Test]
    public void Should_never_report_usage_to_masstransit()
    {
        var hosts = new (string Name, IServiceProvider Services)[] { ("orchestrator", _orchestrator!.Services), ("worker", _worker!.Services), ("intake", _intake!.Services) };

        Assert.Multiple(() =>
        {
            foreach (var (name, services) in hosts)
                Assert.That(services.GetRequiredService<IOptions<MassTransit.UsageTelemetryOptions>>().Value.Enabled, Is.False, name);
        });
    }

    [Test]
    public void Should_not_trace_health_probes()
    {
        var probes = _collector.Spans.Where(s => s.Source == "Microsoft.AspNetCore" && (s.Name.Contains("/health", StringComparison.Ordinal)
            || (s.Tag("url.path") ?? "").StartsWith("/health", StringComparison.Ordinal))).ToList();
        var requests = _collector.Spans.Count(s => s.Source == "Microsoft.AspNetCore");

        Assert.That(requests, Is.GreaterThan(0), "the intake's requests are traced at all");
        Assert.That(probes.Select(p => p.Name), Is.Empty);
    }

    [Test]
    public void Should_connect_every_span_to_a_parent_in_the_same_trace()
    {
        TestContext.Out.WriteLine(_summary);
        TestContext.Out.WriteLine("start      span  [service; source]  ids");
        TestContext.Out.WriteLine(SpanCollector.Render(_trace));
        var ids = _trace.Select(s => s.SpanId).ToHashSet();
        var orphans = _trace.Where(s => s.ParentSpanId != default && !ids.Contains(s.ParentSpanId)).Select(s => s.Name).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(_trace, Has.Count.GreaterThan(20));
            Assert.That(orphans, Is.Empty);
            Assert.That(_trace.Select(s => s.Service).Distinct(), Is.SupersetOf(new[] { "intake", "orchestrator", "worker" }));
        });
    }

    [Test]
    public void Should_contain_each_step_of_the_tasks_journey()
    {
        var names = _trace.Select(s => s.Name).ToList();
        string[] steps =
        [
            "submit batch",
            "outbox relay BatchSubmitted",
            "user-work-queue process",
            "dispatch decision",
            "dispatch task",
            "outbox relay ExecuteTask",
            "execute-task process",
            "run task",
            "research search",
            "research extract",
            "research analyze",
            "research save",
            "outbox relay TaskStarted",
            "notify batch tasks ended",
            "batch-state process",
        ];

        Assert.Multiple(() =>
        {
            Assert.That(names.Any(n => n.StartsWith("POST", StringComparison.Ordinal)), Is.True, "HTTP POST");
            foreach (var step in steps)
                Assert.That(names, Has.Some.EqualTo(step), step);
            Assert.That(_trace.Any(s => s.Kind == ActivityKind.Producer && s.Name.Contains("BatchSubmitted", StringComparison.Ordinal)), Is.True, "BatchSubmitted published");
            Assert.That(_trace.Any(s => s.Kind == ActivityKind.Producer && s.Name.Contains("BatchTasksEnded", StringComparison.Ordinal)), Is.True, "BatchTasksEnded published");
            Assert.That(SagaSpans("BatchTasksEnded"), Is.Not.Empty, "the batch saga consumed BatchTasksEnded");
        });
    }

    [Test]
    public void Should_run_the_task_beneath_its_dispatch()
    {
        var byId = _trace.ToDictionary(s => s.SpanId);
        var run = _trace.Single(s => s.Name == "run task");
        var dispatch = _trace.Single(s => s.Name == "dispatch task");
        var ancestors = new List<string>();
        for (var span = run; byId.TryGetValue(span.ParentSpanId, out var parent); span = parent)
            ancestors.Add(parent.Name);

        TestContext.Out.WriteLine("run task ← " + string.Join(" ← ", ancestors));
        var decisions = _trace.Where(s => s.Name == "dispatch decision").ToDictionary(s => s.SpanId);
        var chose = dispatch.Links.Select(l => decisions.GetValueOrDefault(l.SpanId)).SingleOrDefault(d => d is not null);
        TestContext.Out.WriteLine($"{decisions.Count} dispatch decisions in the trace (dispatched: " +
                                  $"{string.Join(", ", decisions.Values.Select(d => d.Tag("platform.dispatch.dispatched")))}); the task's dispatch links to one that dispatched {chose?.Tag("platform.dispatch.dispatched")}");
        Assert.Multiple(() =>
        {
            Assert.That(ancestors, Does.Contain("dispatch task"));
            Assert.That(ancestors, Does.Contain("execute-task process"));
            Assert.That(ancestors, Does.Contain("submit batch"));
            Assert.That(ancestors[^1], Does.StartWith("POST"));
            Assert.That(chose?.Tag("platform.dispatch.dispatched"), Is.EqualTo("1"), "the task's dispatch links to the decision that chose it");
        });
    }

    [Test]
    public void Should_name_user_batch_task_tier_and_slot_on_the_tasks_spans()
    {
        var taskSpans = _trace.Where(s => s.Name is "dispatch task" or "run task" or "execute-task receive").ToList();
        TestContext.Out.WriteLine(string.Join("\n", taskSpans.Select(s =>
            $"{s.Name}: {string.Join(", ", s.Tags.Where(t => t.Key.StartsWith("platform.", StringComparison.Ordinal)).Select(t => $"{t.Key}={t.Value}"))}")));

        Assert.Multiple(() =>
        {
            Assert.That(taskSpans.Select(s => s.Name).Distinct().Count(), Is.EqualTo(3));
            foreach (var span in taskSpans)
            {
                Assert.That(span.Tag(PlatformTags.UserId), Is.EqualTo("trace-user"), span.Name);
                Assert.That(span.Tag(PlatformTags.BatchId), Is.EqualTo(_batchId.ToString()), span.Name);
                Assert.That(span.Tag(PlatformTags.TaskId), Is.EqualTo(_taskId.ToString()), span.Name);
                Assert.That(span.Tag(PlatformTags.Tier), Is.EqualTo("pro"), span.Name);
                Assert.That(span.Tag(PlatformTags.Slot), Is.EqualTo("0"), span.Name);
            }
        });
    }

    [Test]
    public void Should_never_record_the_api_key()
    {
        var everything = _collector.Spans;
        var leaks = everything.SelectMany(s => s.Tags.Select(t => (Span: s.Name, t.Key, t.Value)))
            .Where(t => t.Value is not null && (t.Value.Contains(_apiKey, StringComparison.Ordinal) || t.Value.Contains(AdminKey, StringComparison.Ordinal)
                                                || t.Value.Contains("Bearer", StringComparison.OrdinalIgnoreCase)))
            .ToList();

        TestContext.Out.WriteLine($"{everything.Count} spans, {everything.Sum(s => s.Tags.Count)} attributes searched for the user's and the admin's key");
        Assert.Multiple(() =>
        {
            Assert.That(_apiKey, Has.Length.GreaterThan(16));
            Assert.That(leaks.Select(l => $"{l.Span}: {l.Key}"), Is.Empty);
        });
    }

    IEnumerable<CollectedSpan> SagaSpans(string message) =>
        _trace.Where(s => s.Name == "batch-state process" && (s.Tag("messaging.masstransit.message_types") ?? s.Tag("peer.address") ?? "")
            .Contains(message, StringComparison.Ordinal));

    static async Task<IHost> StartHost(string service, string database, string rabbit, Action<IHostApplicationBuilder> add)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            ApplicationName = "Platform." + char.ToUpperInvariant(service[0]) + service[1..],
            EnvironmentName = Environments.Production,
        });
        builder.Configuration.AddInMemoryCollection(Settings(service, database, rabbit));
        builder.AddServiceDefaults();
        add(builder);
        var host = builder.Build();

        // Everything this host starts (bus, consumers, relay, reconciler) inherits the name, so its spans say whose they are.
        SpanCollector.CurrentService.Value = service;
        await host.StartAsync();
        return host;
    }

    static IntakeHost StartIntake(string database, string rabbit)
    {
        SpanCollector.CurrentService.Value = "intake";
        var intake = new IntakeHost(Settings("intake", database, rabbit));
        intake.StartServer();
        SpanCollector.CurrentService.Value = null;
        return intake;
    }

    static Dictionary<string, string?> Settings(string service, string database, string rabbit) => new()
    {
        ["ConnectionStrings:Platform"] = database,
        ["ConnectionStrings:RabbitMq"] = rabbit,
        ["Platform:AdminApiKey"] = AdminKey,
        ["Platform:Secrets:MasterKeyFile"] = LocalInfrastructure.MasterKeyFile,
        ["OTEL_SERVICE_NAME"] = service,
        ["Logging:LogLevel:Default"] = "Warning",
    };

    static async Task<T> Scalar<T>(string database, string sql, object parameter)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection) { Parameters = { new NpgsqlParameter { Value = parameter } } };
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>The real Intake host (its Program) on the in-memory test server.</summary>
    sealed class IntakeHost(Dictionary<string, string?> settings) : WebApplicationFactory<Platform.Intake.IntakeOptions>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            builder.UseEnvironment(Environments.Production);
            foreach (var (key, value) in settings)
                builder.UseSetting(key, value);
        }
    }
}
