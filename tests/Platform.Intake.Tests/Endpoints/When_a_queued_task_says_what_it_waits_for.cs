using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Intake.Tests.Endpoints;

/// <summary>
/// Each queued task of <c>GET /v1/batches/{id}/tasks</c> says why it has not started, first reason first: a cancellation,
/// a retry's time, the user's busy slots, or nothing but its turn. The fleet here has room to spare (one worker of
/// 10,000), so the fleet never is the reason; <see cref="When_the_fleet_is_full"/> fills it.
/// </summary>
[TestFixture]
public sealed class When_a_queued_task_says_what_it_waits_for
{
    IntakeApplication _app = null!;
    string _database = null!;

    [OneTimeSetUp]
    public async Task StartIntake()
    {
        // A host of its own: the fleet is the database's workers and tasks in flight, which no other test may see.
        _database = await LocalInfrastructure.CreateDatabase("intake_waiting");
        var rabbitMq = await LocalInfrastructure.CreateVirtualHost("intake_waiting");
        _app = new IntakeApplication(_database, rabbitMq, new Dictionary<string, string>
        {
            // The worker row is written once; a heartbeat-aged timeout would drop it from the fleet mid-run.
            ["Platform:Fleet:WorkerTimeout"] = "01:00:00",
        });
        _app.UseKestrel(0);
        _app.StartServer();
        await FleetRows.AddWorker(_database, "waiting-worker:1", 10_000);
    }

    [OneTimeTearDown]
    public async Task StopIntake()
    {
        if (_app is not null)
            await _app.DisposeAsync();
    }

    [Test]
    public async Task Should_say_a_task_of_a_batch_being_cancelled_will_not_start()
    {
        var (_, user) = await _app.CreateUser("cancelling", "starter");
        using (user)
        {
            var batchId = await IntakeApplication.SubmitBatch(user, tasks: 2);
            await FleetRows.Retry(_database, batchId, "task-1", 1, "the provider failed (503)", DateTimeOffset.UtcNow.AddHours(1));
            // A cancellation ends the queued tasks in the transaction that requests it; a row caught between must still
            // not promise a start, even one that also waits for a retry.
            await FleetRows.Execute(_database, "UPDATE batches SET cancel_requested_at = now() WHERE batch_id = @batch", ("batch", batchId));

            var tasks = await Tasks(user, batchId);

            Assert.Multiple(() =>
            {
                foreach (var key in new[] { "task-0", "task-1" })
                {
                    Assert.That(Reason(tasks, key), Is.EqualTo("cancelling"), key);
                    Assert.That(Detail(tasks, key), Is.EqualTo("the batch is being cancelled; this task will not start"), key);
                    Assert.That(Waiting(tasks, key)!["notBefore"], Is.Null, key);
                }
            });
        }
    }

    [Test]
    public async Task Should_say_when_a_task_waiting_for_its_retry_starts_at_the_earliest()
    {
        var (_, user) = await _app.CreateUser("retry", "starter");
        using (user)
        {
            var batchId = await IntakeApplication.SubmitBatch(user, tasks: 2);
            // Whole seconds: PostgreSQL keeps microseconds, and the comparison below is exact.
            var notBefore = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeSeconds());
            await FleetRows.Retry(_database, batchId, "task-0", 2, "the provider failed (503 server_error)", notBefore);

            var tasks = await Tasks(user, batchId);

            // Today's time alone; a date too once the retry is on another day than the answer.
            var when = notBefore.UtcDateTime.ToString(notBefore.UtcDateTime.Date == DateTime.UtcNow.Date ? "HH:mm:ss" : "yyyy-MM-dd HH:mm:ss",
                CultureInfo.InvariantCulture);
            Assert.Multiple(() =>
            {
                Assert.That(Reason(tasks, "task-0"), Is.EqualTo("retry"));
                Assert.That(Detail(tasks, "task-0"),
                    Is.EqualTo($"attempt 2 failed: the provider failed (503 server_error); the next attempt starts at {when} UTC at the earliest"));
                Assert.That(DateTimeOffset.Parse(Waiting(tasks, "task-0")!["notBefore"]!.GetValue<string>(), CultureInfo.InvariantCulture),
                    Is.EqualTo(notBefore));
                Assert.That(Reason(tasks, "task-1"), Is.EqualTo("fleet"), "the task beside it waits for nothing but its turn");
            });
        }
    }

    [Test]
    public async Task Should_not_count_a_retry_whose_time_has_come()
    {
        var (_, user) = await _app.CreateUser("retry-due", "starter");
        using (user)
        {
            var batchId = await IntakeApplication.SubmitBatch(user, tasks: 1);
            await FleetRows.Retry(_database, batchId, "task-0", 1, "the provider failed (503)", DateTimeOffset.UtcNow.AddSeconds(-1));

            var tasks = await Tasks(user, batchId);

            Assert.That(Reason(tasks, "task-0"), Is.EqualTo("fleet"));
        }
    }

    [Test]
    public async Task Should_say_every_slot_of_the_user_is_busy_naming_how_many()
    {
        var (_, user) = await _app.CreateUser("slots", "starter");
        using (user)
        {
            var batchId = await IntakeApplication.SubmitBatch(user, tasks: 5);
            await FleetRows.Run(_database, batchId, 3);

            var tasks = await Tasks(user, batchId);

            Assert.Multiple(() =>
            {
                foreach (var key in new[] { "task-3", "task-4" })
                {
                    Assert.That(Reason(tasks, key), Is.EqualTo("user_slots"), key);
                    Assert.That(Detail(tasks, key), Does.StartWith("all 3 of your slots are busy"), key);
                }
            });
        }
    }

    [Test]
    public async Task Should_count_the_slots_of_a_user_s_own_provider_key()
    {
        var (userId, user) = await _app.CreateUser("own-key", "pro");
        using (user)
        {
            var batchId = await IntakeApplication.SubmitBatch(user, tasks: 22);
            // Pro has 10 slots, 20 with the user's own key (set as a checked key would set it).
            await FleetRows.Execute(_database, "UPDATE users SET own_provider_key = true WHERE user_id = @user", ("user", userId));
            await FleetRows.Run(_database, batchId, 10);
            var beyondTheTier = await Tasks(user, batchId);
            await FleetRows.Run(_database, batchId, 20);
            var atTheKeysSlots = await Tasks(user, batchId);

            Assert.Multiple(() =>
            {
                Assert.That(Reason(beyondTheTier, "task-10"), Is.EqualTo("fleet"), "10 of 20 slots busy: not the slots");
                Assert.That(Detail(atTheKeysSlots, "task-20"), Does.StartWith("all 20 of your slots are busy"));
            });
        }
    }

    [Test]
    public async Task Should_say_a_task_nothing_holds_back_is_next_in_line()
    {
        var (_, user) = await _app.CreateUser("next", "starter");
        using (user)
        {
            var batchId = await IntakeApplication.SubmitBatch(user, tasks: 2);
            await FleetRows.Run(_database, batchId, 1);

            var tasks = await Tasks(user, batchId);

            Assert.Multiple(() =>
            {
                Assert.That(Reason(tasks, "task-1"), Is.EqualTo("fleet"));
                Assert.That(Detail(tasks, "task-1"), Is.EqualTo("about to start: next in line for a free worker"));
                Assert.That(Waiting(tasks, "task-1")!["notBefore"], Is.Null);
            });
        }
    }

    [Test]
    public async Task Should_say_nothing_of_a_running_or_finished_task()
    {
        var (_, user) = await _app.CreateUser("no-wait", "starter");
        using (user)
        {
            var batchId = await IntakeApplication.SubmitBatch(user, tasks: 3);
            await FleetRows.Run(_database, batchId, 1);
            await FleetRows.Complete(_database, batchId, "task-1");

            var tasks = await Tasks(user, batchId);

            Assert.Multiple(() =>
            {
                Assert.That(Named(tasks, "task-0")["status"]!.GetValue<string>(), Is.EqualTo("running"));
                Assert.That(Named(tasks, "task-1")["status"]!.GetValue<string>(), Is.EqualTo("completed"));
                Assert.That(Named(tasks, "task-0").ContainsKey("waitingFor") && Waiting(tasks, "task-0") is null, Is.True, "running: waitingFor is null");
                Assert.That(Named(tasks, "task-1").ContainsKey("waitingFor") && Waiting(tasks, "task-1") is null, Is.True, "completed: waitingFor is null");
                Assert.That(Waiting(tasks, "task-2"), Is.Not.Null, "the queued task beside them does say");
            });
        }
    }

    [Test]
    public async Task Should_say_nothing_of_tasks_a_cancellation_ended()
    {
        var (_, user) = await _app.CreateUser("cancelled", "starter");
        using (user)
        {
            var batchId = await IntakeApplication.SubmitBatch(user, tasks: 2);
            using (var cancelled = await user.DeleteAsync($"/v1/batches/{batchId}"))
                Assert.That(cancelled.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));

            var tasks = await Tasks(user, batchId);

            Assert.Multiple(() =>
            {
                Assert.That(tasks.Select(t => t["status"]!.GetValue<string>()), Is.EqualTo(new[] { "cancelled", "cancelled" }));
                Assert.That(tasks.Select(t => t["waitingFor"]), Is.All.Null);
            });
        }
    }

    [Test]
    public async Task Should_list_every_reason_in_the_api_s_description()
    {
        using var anonymous = _app.Client(apiKey: null);
        var document = (await anonymous.GetFromJsonAsync<JsonObject>("/openapi/v1.json"))!;
        var schemas = document["components"]!["schemas"]!;
        var waitingFor = schemas["TaskView"]!["properties"]!["waitingFor"]!["oneOf"]!.AsArray()
            .Select(s => s?["$ref"]?.GetValue<string>()).Single(r => r is not null)!;
        var reason = schemas[waitingFor["#/components/schemas/".Length..]]!["properties"]!["reason"]!;

        Assert.That(reason["enum"]!.AsArray().Select(v => v!.GetValue<string>()),
            Is.EquivalentTo(new[] { "user_slots", "fleet", "provider_budget", "retry", "cancelling" }));
    }

    internal static async Task<IReadOnlyList<JsonObject>> Tasks(HttpClient user, Guid batchId)
    {
        var page = await user.GetFromJsonAsync<JsonObject>($"/v1/batches/{batchId}/tasks");
        return page!["items"]!.AsArray().Select(t => t!.AsObject()).ToList();
    }

    static JsonObject Named(IReadOnlyList<JsonObject> tasks, string key) => tasks.Single(t => t["key"]!.GetValue<string>() == key);

    internal static JsonObject? Waiting(IReadOnlyList<JsonObject> tasks, string key) => Named(tasks, key)["waitingFor"] as JsonObject;

    internal static string? Reason(IReadOnlyList<JsonObject> tasks, string key) => Waiting(tasks, key)?["reason"]?.GetValue<string>();

    internal static string? Detail(IReadOnlyList<JsonObject> tasks, string key) => Waiting(tasks, key)?["detail"]?.GetValue<string>();
}
