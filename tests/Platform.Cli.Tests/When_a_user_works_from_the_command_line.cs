using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Cli.Tests;

/// <summary>The real tool as a process against a real Platform (one per fixture; each test has its own user).</summary>
public sealed class When_a_user_works_from_the_command_line
{
    static readonly TimeSpan Quick = TimeSpan.FromSeconds(60);
    PlatformCluster _cluster = null!;
    string _folder = null!;
    CliProcess _cli = null!;

    [OneTimeSetUp]
    public async Task StartPlatform() => _cluster = await PlatformCluster.Start("cli", workers: 1);

    [OneTimeTearDown]
    public async Task StopPlatform() => await _cluster.DisposeAsync();

    [SetUp]
    public void NewConfigFolder()
    {
        _folder = Directory.CreateTempSubdirectory("platform-cli-").FullName;
        _cli = new CliProcess(_folder);
    }

    [TearDown]
    public void RemoveConfigFolder() => Directory.Delete(_folder, recursive: true);

    string Api => _cluster.Intake.BaseAddress.ToString();

    async Task<(string UserId, string Key)> NewUser(string tier = "pro")
    {
        var userId = "cli-" + Guid.NewGuid().ToString("N")[..10];
        using var admin = _cluster.Client();
        using var response = await admin.PostAsJsonAsync("/v1/users", new { userId, tier });
        await PlatformCluster.EnsureSuccess(response);
        return (userId, (await response.Content.ReadFromJsonAsync<JsonObject>())!["apiKey"]!.GetValue<string>());
    }

    Dictionary<string, string?> As(string key) => new() { ["PLATFORM_API"] = Api, ["PLATFORM_API_KEY"] = key };

    [Test]
    public async Task Should_exit_0_after_submit_watch_and_write_results_that_match_the_task_rows()
    {
        var (_, key) = await NewUser();
        var csv = Path.Combine(_folder, "companies.csv");
        await File.WriteAllTextAsync(csv, "\uFEFFkey,company,note\r\n" + string.Join("\r\n",
            Enumerable.Range(1, 12).Select(i => $"c{i:D2},\"Company {i}, Inc.\",\"says \"\"hi\"\"\"")) + "\r\n\r\n");

        var submitted = await _cli.Run(As(key), TimeSpan.FromSeconds(120), "submit", csv, "--instructions", "Research {company}", "--watch", "--timeout", "100");

        Assert.That(submitted.ExitCode, Is.Zero, submitted.ToString());
        var batchId = submitted.Output.Split('\n')[0].Trim();
        Assert.That(Guid.TryParse(batchId, out _), Is.True, $"the first line of stdout is the batch id:\n{submitted}");
        Assert.That(submitted.Output, Does.Contain("completed after"), "plain progress lines, then the summary, when stdout is not a terminal");

        var resultsFile = Path.Combine(_folder, "results.jsonl");
        var results = await _cli.Run(As(key), Quick, "results", batchId, "--format", "jsonl", "-o", resultsFile);
        Assert.That(results.ExitCode, Is.Zero, results.ToString());

        using var user = _cluster.Client(key);
        var rows = (await PlatformCluster.GetJson(user, $"/v1/batches/{batchId}/tasks?limit=1000"))["items"]!.AsArray()
            .ToDictionary(t => t!["key"]!.GetValue<string>(), t => t!.AsObject());
        var lines = (await File.ReadAllLinesAsync(resultsFile)).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(lines.Select(l => l["key"]!.GetValue<string>()), Is.EqualTo(rows.Keys.Order(StringComparer.Ordinal)), "every task once, in key order");
            Assert.That(rows.Values.Select(r => r["status"]!.GetValue<string>()), Is.All.EqualTo("completed"));
            foreach (var line in lines)
            {
                var row = rows[line["key"]!.GetValue<string>()];
                Assert.That(line["status"]!.GetValue<string>(), Is.EqualTo(row["status"]!.GetValue<string>()), line.ToJsonString());
                Assert.That(JsonNode.DeepEquals(line["result"], row["result"]), Is.True, $"{line.ToJsonString()}\nvs the row {row.ToJsonString()}");
                Assert.That(line["error"]?.ToString(), Is.EqualTo(row["error"]?.ToString()));
            }
        });

        var csvFile = Path.Combine(_folder, "results.csv");
        var asCsv = await _cli.Run(As(key), Quick, "results", batchId, "--format", "csv", "-o", csvFile);
        Assert.That(asCsv.ExitCode, Is.Zero, asCsv.ToString());
        var records = Platform.Cli.Input.Csv.Read(await File.ReadAllTextAsync(csvFile)).Select(r => r.Fields).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(records[0].Take(3), Is.EqualTo(new[] { "key", "status", "error" }));
            Assert.That(records.Skip(1).Select(r => r[0]), Is.EqualTo(rows.Keys.Order(StringComparer.Ordinal)));
            Assert.That(records.Skip(1).Select(r => r[1]), Is.All.EqualTo("completed"));
        });
    }

    [Test]
    public async Task Should_exit_1_when_the_watched_batch_has_failed_tasks()
    {
        var (_, key) = await NewUser();
        var jsonl = Path.Combine(_folder, "tasks.jsonl");
        await File.WriteAllLinesAsync(jsonl,
        [
            """{"key": "ok", "input": {"company": "Acme", "simulate": {"durationMs": 100}}}""",
            """{"key": "bad", "input": {"company": "Globex", "simulate": {"durationMs": 100, "fail": "permanent"}}}""",
        ]);

        var run = await _cli.Run(As(key), TimeSpan.FromSeconds(120), "submit", jsonl, "-i", "Research {company}", "--name", "one fails", "--watch",
            "--timeout", "100");

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
            Assert.That(run.Output, Does.Contain("task bad failed"));
            Assert.That(run.Output, Does.Contain("completed_with_failures"));
        });
    }

    [Test]
    public async Task Should_exit_2_and_name_the_field_when_the_batch_is_invalid()
    {
        var (_, key) = await NewUser();
        var csv = Path.Combine(_folder, "companies.csv");
        await File.WriteAllTextAsync(csv, "name\nAcme\n");

        var run = await _cli.Run(As(key), Quick, "submit", csv, "--instructions", "Research {company}");

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
            Assert.That(run.Error, Does.Contain("tasks[0].input.company"), run.ToString());
            Assert.That(run.Output, Is.Empty, "no batch id for a refused batch");
        });
    }

    [Test]
    public async Task Should_exit_4_when_the_key_is_refused()
    {
        var run = await _cli.Run(As("pk_not-a-key"), Quick, "queue");

        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.EqualTo(4), run.ToString());
            Assert.That(run.Error, Does.Contain("401"));
        });
    }

    [Test]
    public async Task Should_exit_4_when_a_user_runs_an_admin_command()
    {
        var (_, key) = await NewUser();

        var run = await _cli.Run(As(key), Quick, "users", "create", "someone", "--tier", "free");

        Assert.That(run.ExitCode, Is.EqualTo(4), run.ToString());
    }

    [Test]
    public async Task Should_store_the_login_readable_by_its_owner_only_and_let_the_environment_win()
    {
        var (_, key) = await NewUser("starter");

        var login = await _cli.Run(new Dictionary<string, string?>(), Quick, "login", "--api", Api, "--api-key", key);

        Assert.That(login.ExitCode, Is.Zero, login.ToString());
        var file = Path.Combine(_folder, "platform", "config.json");
        Assert.Multiple(() =>
        {
            if (!OperatingSystem.IsWindows())
                Assert.That(File.GetUnixFileMode(file), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            Assert.That(login.Error, Does.Contain("starter user with 3 desks"));
        });

        var fromFile = await _cli.Run(new Dictionary<string, string?>(), Quick, "queue", "--json");
        Assert.That(fromFile.ExitCode, Is.Zero, fromFile.ToString());
        Assert.That(JsonNode.Parse(fromFile.Output)!["concurrency"]!.GetValue<int>(), Is.EqualTo(3));

        var overridden = await _cli.Run(new Dictionary<string, string?> { ["PLATFORM_API_KEY"] = "pk_wrong" }, Quick, "queue");
        Assert.That(overridden.ExitCode, Is.EqualTo(4), "PLATFORM_API_KEY wins over the file:\n" + overridden);
    }

    [Test]
    public async Task Should_refuse_to_store_a_login_the_api_refuses()
    {
        var login = await _cli.Run(new Dictionary<string, string?>(), Quick, "login", "--api", Api, "--api-key", "pk_wrong");

        Assert.Multiple(() =>
        {
            Assert.That(login.ExitCode, Is.EqualTo(4), login.ToString());
            Assert.That(File.Exists(Path.Combine(_folder, "platform", "config.json")), Is.False);
        });
    }

    [Test]
    public async Task Should_create_users_change_tiers_and_rotate_keys_as_the_admin()
    {
        var admin = As(PlatformCluster.AdminKey);
        var userId = "cli-admin-" + Guid.NewGuid().ToString("N")[..8];

        var created = await _cli.Run(admin, Quick, "users", "create", userId, "--tier", "free");
        Assert.That(created.ExitCode, Is.Zero, created.ToString());
        var firstKey = created.Output.Trim();
        var tier = await _cli.Run(admin, Quick, "users", "tier", userId, "pro");
        Assert.That(tier.ExitCode, Is.Zero, tier.ToString());
        var queue = await _cli.Run(As(firstKey), Quick, "queue", "--json");
        Assert.That(queue.ExitCode, Is.Zero, queue.ToString());
        Assert.That(JsonNode.Parse(queue.Output)!["tier"]!.GetValue<string>(), Is.EqualTo("pro"));

        var rotated = await _cli.Run(admin, Quick, "users", "rotate-key", userId);
        Assert.That(rotated.ExitCode, Is.Zero, rotated.ToString());
        var oldKey = await _cli.Run(As(firstKey), Quick, "queue");
        var newKey = await _cli.Run(As(rotated.Output.Trim()), Quick, "queue");
        Assert.Multiple(() =>
        {
            Assert.That(oldKey.ExitCode, Is.EqualTo(4), oldKey.ToString());
            Assert.That(newKey.ExitCode, Is.Zero, newKey.ToString());
            Assert.That(newKey.Output, Does.Contain("10 desks"));
        });

        var unknownTier = await _cli.Run(admin, Quick, "users", "tier", userId, "gold");
        Assert.Multiple(() =>
        {
            Assert.That(unknownTier.ExitCode, Is.EqualTo(2), unknownTier.ToString());
            Assert.That(unknownTier.Error, Does.Contain("tier"));
        });
    }

    [Test]
    public async Task Should_cancel_a_batch_and_exit_1_when_watching_it()
    {
        var (_, key) = await NewUser("free");
        var jsonl = Path.Combine(_folder, "slow.jsonl");
        await File.WriteAllLinesAsync(jsonl, Enumerable.Range(0, 5).Select(i => $$$"""{"company": "C{{{i}}}", "simulate": {"durationMs": 20000}}"""));
        var submitted = await _cli.Run(As(key), Quick, "submit", jsonl, "-i", "Research {company}");
        Assert.That(submitted.ExitCode, Is.Zero, submitted.ToString());
        var batchId = submitted.Output.Trim();

        var cancelled = await _cli.Run(As(key), Quick, "cancel", batchId);
        var watched = await _cli.Run(As(key), TimeSpan.FromSeconds(90), "watch", batchId, "--timeout", "80");

        Assert.Multiple(() =>
        {
            Assert.That(cancelled.ExitCode, Is.Zero, cancelled.ToString());
            Assert.That(watched.ExitCode, Is.EqualTo(1), watched.ToString());
            Assert.That(watched.Output, Does.Contain("cancelled"));
        });
    }
}

public sealed class When_the_api_cannot_be_reached
{
    [Test]
    public async Task Should_exit_3_and_say_where_it_tried()
    {
        var folder = Directory.CreateTempSubdirectory("platform-cli-").FullName;
        try
        {
            // A port that was free a moment ago: nothing listens there.
            using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            listener.Start();
            var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();

            var run = await new CliProcess(folder).Run(
                new Dictionary<string, string?> { ["PLATFORM_API"] = $"http://127.0.0.1:{port}", ["PLATFORM_API_KEY"] = "pk_any" },
                TimeSpan.FromSeconds(60), "queue");

            Assert.Multiple(() =>
            {
                Assert.That(run.ExitCode, Is.EqualTo(3), run.ToString());
                Assert.That(run.Error, Does.Contain($"cannot reach the API at http://127.0.0.1:{port}/"));
            });
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
