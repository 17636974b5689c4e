using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Npgsql;
using Platform.Telemetry.Tests;
using Platform.Testing;

namespace Platform.Secrets.Tests;

/// <summary>
/// Invariant 10's "never appears": a run with the platform's key, two users' keys (one the provider later refuses) and a
/// key refused at once, then every place a secret could leak to is searched for each key string — the database (a
/// plain-text pg_dump), every service's log output, every span and metric the services exported (raw OTLP), every
/// message the run put on RabbitMQ (a capture queue bound to every exchange), and every API answer the test received.
/// </summary>
[TestFixture]
public sealed class When_a_run_is_scanned_for_secrets
{
    OtlpReceiver _otlp = null!;
    Byok _byok = null!;

    [OneTimeSetUp]
    public async Task Start()
    {
        _otlp = await OtlpReceiver.Start();
        _byok = await Byok.Start(nameof(When_a_run_is_scanned_for_secrets), latencyMs: 100, settings: new Dictionary<string, string>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _otlp.Endpoint.ToString(),
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "1000",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "500",
            // As much log output as there is, the HTTP client's headers (at Trace) and Data Protection's own lines included.
            ["Logging__LogLevel__Default"] = "Debug",
            ["Logging__LogLevel__Platform"] = "Debug",
            ["Logging__LogLevel__System.Net.Http"] = "Trace",
            ["Logging__LogLevel__Microsoft.AspNetCore"] = "Debug",
        });
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        await _byok.DisposeAsync();
        await _otlp.DisposeAsync();
    }

    [Test]
    public async Task Should_find_no_key_anywhere()
    {
        var answers = new List<string>();
        var cluster = _byok.Cluster;

        // Warm-up: every kind of message the run will publish exists once, so its exchange exists when the capture binds.
        var warm = await cluster.CreateUser("scan-warm", "pro");
        answers.Add((await Byok.PutKey(warm, "scan-warm", new { apiKey = Byok.NewUserKey("warm") })).Text);
        var warmBatch = await PlatformCluster.SubmitBatch(warm, "warm-up", [
            new { company = "a", simulate = new { durationMs = 50 } },
            new { company = "b", simulate = new { durationMs = 50, fail = "transient", failTimes = 1 } },
            new { company = "c", simulate = new { durationMs = 50, fail = "permanent" } },
        ]);
        await _byok.WaitFinished(warm, warmBatch, TimeSpan.FromSeconds(60));
        using (var admin = cluster.Client())
            (await admin.DeleteAsync("/v1/users/scan-warm/provider-key")).EnsureSuccessStatusCode();
        var capture = await MessageCapture.Start(cluster.RabbitMq);

        // The run.
        var ownKey = Byok.NewUserKey("own");
        var revokedKey = Byok.NewUserKey("revoked");
        var refusedKey = $"sk-rejected-{Guid.NewGuid():N}";
        var apiKeys = new List<string>();

        var own = await CreateUser("scan-own", "pro", apiKeys, answers);
        var put = await Byok.PutKey(own, "scan-own", new { apiKey = ownKey });
        answers.Add(put.Text);
        Assert.That(put.Status, Is.EqualTo(HttpStatusCode.OK), put.Text);
        var platformUser = await CreateUser("scan-platform", "starter", apiKeys, answers);
        var refused = await CreateUser("scan-refused", "pro", apiKeys, answers);
        var refusal = await Byok.PutKey(refused, "scan-refused", new { apiKey = refusedKey });
        answers.Add(refusal.Text);
        Assert.That(refusal.Status, Is.EqualTo(HttpStatusCode.UnprocessableEntity), refusal.Text);
        var revoked = await CreateUser("scan-revoked", "pro", apiKeys, answers);
        answers.Add((await Byok.PutKey(revoked, "scan-revoked", new { apiKey = revokedKey })).Text);
        await _byok.Provider.InjectFault(status: 401, count: 1000, key: revokedKey, code: "invalid_api_key");

        var batches = new (HttpClient User, string UserId, Guid Batch)[]
        {
            (own, "scan-own", await PlatformCluster.SubmitBatch(own, "own key", Byok.Companies(10))),
            (platformUser, "scan-platform", await PlatformCluster.SubmitBatch(platformUser, "platform key", Byok.Companies(5))),
            (revoked, "scan-revoked", await PlatformCluster.SubmitBatch(revoked, "revoked key", Byok.Companies(3))),
        };
        foreach (var (user, userId, batch) in batches)
        {
            Assert.That(await _byok.WaitFinished(user, batch, TimeSpan.FromSeconds(90)), Is.EqualTo("completed"));
            answers.Add((await PlatformCluster.GetJson(user, $"/v1/batches/{batch}")).ToJsonString());
            answers.Add((await PlatformCluster.GetJson(user, $"/v1/batches/{batch}/tasks?limit=100")).ToJsonString());
            answers.Add((await Byok.User(user, userId)).ToJsonString());
            answers.Add((await PlatformCluster.GetJson(user, "/v1/queue")).ToJsonString());
        }

        var calls = await _byok.Provider.Completions();
        Assert.Multiple(() =>
        {
            Assert.That(calls.Count(c => c.Key == ownKey && c.Status == 200), Is.GreaterThanOrEqualTo(10), "the user's key was used");
            Assert.That(calls.Count(c => c.Key == revokedKey), Is.GreaterThanOrEqualTo(1), "the revoked key was tried");
            Assert.That(calls.Count(c => c.Key == _byok.PlatformKey && c.Status == 200), Is.GreaterThanOrEqualTo(8), "the platform's key was used");
        });

        // Everything the run wrote: messages first (the vhost goes with the cluster), the database, then the processes'
        // logs and telemetry once they have stopped and flushed their exporters.
        var messages = (await capture.Drain()).ToList();
        var unbound = await capture.Unbound();
        foreach (var (queue, depth) in await capture.Queues())
        {
            if (depth > 0 && (queue.EndsWith("_error", StringComparison.Ordinal) || queue.EndsWith("_skipped", StringComparison.Ordinal)))
                messages.AddRange(await capture.Take(queue));
        }

        var dump = await PgDump(cluster.Database);
        foreach (var service in cluster.Services)
            await service.Stop(TimeSpan.FromSeconds(30));
        var traces = _otlp.Requests.Where(r => r.Path == "/v1/traces").ToList();
        var metrics = _otlp.Requests.Where(r => r.Path == "/v1/metrics").ToList();
        var spans = traces.SelectMany(t => Protobuf.SpanAttributeCounts(t.Body)).ToList();

        var masterKey = (await File.ReadAllTextAsync(LocalInfrastructure.MasterKeyFile)).Trim();
        var providerKeys = new Dictionary<string, string>
        {
            ["platform key"] = _byok.PlatformKey, ["user key"] = ownKey, ["revoked user key"] = revokedKey, ["refused key"] = refusedKey,
        };
        var secrets = new Dictionary<string, string>(providerKeys) { ["master key"] = masterKey };
        for (var i = 0; i < apiKeys.Count; i++)
            secrets[$"API key {i + 1}"] = apiKeys[i];

        var found = new List<string>();
        void Scan(string place, string text, IReadOnlyDictionary<string, string> what)
        {
            foreach (var (name, value) in what)
            {
                if (text.Contains(value, StringComparison.Ordinal))
                    found.Add($"{name} in {place}");
            }
        }

        Scan("the database dump", dump.Text, secrets);
        foreach (var service in cluster.Services)
            Scan($"{service.Name}'s log", string.Join('\n', service.Output), secrets);
        foreach (var export in traces.Concat(metrics))
            Scan($"an OTLP export ({export.Path})", Encoding.UTF8.GetString(export.Body), secrets);
        foreach (var message in messages)
            Scan($"a message ({message["exchange"]})", MessageCapture.Text(message), secrets);
        // API answers: the key a user was given once (POST /v1/users) is theirs to see; a provider key never is.
        foreach (var answer in answers)
            Scan("an API answer", answer, providerKeys);

        // The control: where the keys legitimately are (the stand-in's record of which key each call used), the same
        // scan finds every one of them.
        var control = new List<string>();
        var callRecord = System.Text.Json.JsonSerializer.Serialize(await _byok.Provider.Calls());
        foreach (var (name, value) in providerKeys)
        {
            if (callRecord.Contains(value, StringComparison.Ordinal))
                control.Add(name);
        }

        var lines = cluster.Services.Sum(s => s.Output.Count);
        TestContext.Out.WriteLine(
            $"scanned for {secrets.Count} secrets ({providerKeys.Count} provider keys, the master key, {apiKeys.Count} API keys):\n" +
            $"  database: {dump.Rows} rows in {dump.Tables} tables, {dump.Text.Length:N0} characters of pg_dump\n" +
            $"  logs: {lines:N0} lines from {cluster.Services.Count} services ({cluster.Services.Sum(s => s.Output.Sum(l => l.Length)):N0} characters)\n" +
            $"  telemetry: {spans.Count:N0} spans with {spans.Sum():N0} attributes in {traces.Count} trace exports " +
            $"({traces.Sum(t => t.Body.Length):N0} bytes), {metrics.Count} metric exports ({metrics.Sum(m => m.Body.Length):N0} bytes)\n" +
            $"  messages: {messages.Count:N0} ({messages.Sum(MessageCapture.PayloadBytes):N0} payload bytes) from {capture.Bound.Count} exchanges\n" +
            $"  API answers: {answers.Count}\n" +
            $"  provider calls: {calls.Count} ({calls.Count(c => c.Key == ownKey)} on the user's key, {calls.Count(c => c.Key == revokedKey)} on the revoked one, " +
            $"{calls.Count(c => c.Key == _byok.PlatformKey)} on the platform's)\n" +
            $"found: {(found.Count == 0 ? "nothing" : string.Join("; ", found))}");

        Assert.Multiple(() =>
        {
            Assert.That(found, Is.Empty, "no secret anywhere");
            Assert.That(control, Is.EquivalentTo(providerKeys.Keys), "the scan finds each provider key where it is: the provider's call record");
            // The scan read what there was to read: each place had content, and none was cut short.
            Assert.That(dump.Rows, Is.GreaterThan(30), "the dump holds the run's rows");
            Assert.That(dump.Text, Does.Contain("provider_keys").And.Contain("data_protection_keys"), "the dump has the secrets' tables");
            Assert.That(cluster.Services.Select(s => s.LinesWritten - s.Output.Count), Has.All.Zero, "every log line was kept for the scan");
            Assert.That(cluster.Services.Select(s => s.ExitCode), Has.All.Zero, "the services stopped cleanly, flushing their exporters");
            Assert.That(spans, Has.Count.GreaterThan(100), "the services' spans reached the receiver");
            Assert.That(messages.Select(m => m["exchange"]?.GetValue<string>()),
                Has.Some.Contains("ExecuteTask").And.Some.Contains("UserTierChanged").And.Some.Contains("TaskRetrying"), "the run's messages were captured");
            Assert.That(unbound, Is.Empty, "no exchange appeared after the capture was bound");
        });
    }

    async Task<HttpClient> CreateUser(string userId, string tier, List<string> apiKeys, List<string> answers)
    {
        using var admin = _byok.Cluster.Client();
        using var response = await admin.PostAsJsonAsync("/v1/users", new { userId, tier });
        await PlatformCluster.EnsureSuccess(response);
        var text = await response.Content.ReadAsStringAsync();
        answers.Add(text);
        var apiKey = JsonNode.Parse(text)!["apiKey"]!.GetValue<string>();
        apiKeys.Add(apiKey);
        return _byok.Cluster.Client(apiKey);
    }

    /// <summary>The test database as a plain-text dump (what an attacker with the database alone would have).</summary>
    static async Task<(string Text, int Rows, int Tables)> PgDump(string connectionString)
    {
        var c = new NpgsqlConnectionStringBuilder(connectionString);
        var pgDump = new[] { "/usr/lib/postgresql" }.Where(Directory.Exists)
            .SelectMany(d => Directory.GetDirectories(d)).OrderByDescending(d => d, StringComparer.Ordinal)
            .Select(d => Path.Combine(d, "bin", "pg_dump")).FirstOrDefault(File.Exists) ?? "pg_dump";
        var start = new ProcessStartInfo(pgDump)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList = { "--format=plain", "--no-owner", "--host", c.Host!, "--port", c.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--username", c.Username!, "--dbname", c.Database! },
        };
        start.Environment["PGPASSWORD"] = c.Password;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.That(process.ExitCode, Is.Zero, $"pg_dump: {await error}");
        var text = await output;

        // Rows are the lines between each "COPY … FROM stdin;" and its "\.".
        int rows = 0, tables = 0;
        var inCopy = false;
        foreach (var line in text.Split('\n'))
        {
            if (inCopy && line == "\\.")
                inCopy = false;
            else if (inCopy)
                rows++;
            else if (line.StartsWith("COPY ", StringComparison.Ordinal) && line.EndsWith("FROM stdin;", StringComparison.Ordinal))
            {
                inCopy = true;
                tables++;
            }
        }

        return (text, rows, tables);
    }
}
