using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Npgsql;
using Platform.Testing;

namespace Platform.Intake.Tests.Endpoints;

/// <summary>
/// The largest batch the defaults allow, through the whole HTTP path onto real PostgreSQL and RabbitMQ: every task row as
/// sent, the whole batch reserved against the quota, and one notification for the batch instead of one per task (issue 17).
/// </summary>
[TestFixture]
public sealed class When_a_batch_of_10000_tasks_is_submitted
{
    const int Tasks = 10_000;

    IntakeApplication _app = null!;
    string _database = null!;
    string _rabbitMq = null!;
    string _userId = null!;
    HttpClient _user = null!;
    HttpStatusCode _status;
    JsonObject _accepted = null!;
    DateTimeOffset _sentAt;

    [OneTimeSetUp]
    public async Task Submit()
    {
        // A host of its own: a body of 10,000 tasks exceeds the shared host's small request limit, and the vhost's
        // exchanges must be this batch's alone.
        _database = await LocalInfrastructure.CreateDatabase("intake_10000_tasks");
        _rabbitMq = await LocalInfrastructure.CreateVirtualHost("intake_10000_tasks");
        _app = new IntakeApplication(_database, _rabbitMq, new Dictionary<string, string> { ["Platform:MaxRequestBodyBytes"] = "4194304" });
        _app.UseKestrel(0);
        _app.StartServer();
        (_userId, _user) = await _app.CreateUser("large", "enterprise");

        _sentAt = DateTimeOffset.UtcNow;
        using var response = await _user.PostAsJsonAsync("/v1/batches", Body(Enumerable.Range(0, Tasks).Select(Key)));
        _status = response.StatusCode;
        _accepted = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        TestContext.Out.WriteLine($"{(int)_status} {_accepted.ToJsonString()[..Math.Min(300, _accepted.ToJsonString().Length)]}");
    }

    [OneTimeTearDown]
    public async Task StopIntake()
    {
        _user?.Dispose();
        if (_app is not null)
            await _app.DisposeAsync();
    }

    static string Key(int i) => $"task-{i:D5}";

    static JsonObject Input(int i) => new() { ["company"] = $"Company {i}", ["rank"] = i, ["tags"] = new JsonArray("a", $"t{i % 7}") };

    static object Body(IEnumerable<string> keys) => new
    {
        name = "ten thousand",
        instructions = "Research {company}",
        tasks = keys.Select((key, i) => new { key, input = Input(i) }),
    };

    Guid BatchId => _accepted["batchId"]!.GetValue<Guid>();

    [Test]
    public void Should_accept_it_with_its_total()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_status, Is.EqualTo(HttpStatusCode.Accepted));
            Assert.That(_accepted["total"]!.GetValue<int>(), Is.EqualTo(Tasks));
            Assert.That(_accepted["status"]!.GetValue<string>(), Is.EqualTo("queued"));
        });
    }

    [Test]
    public async Task Should_store_every_task_row_as_sent()
    {
        await using var connection = new NpgsqlConnection(_database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT t.task_id, t.seq, t.key, t.input::text, t.status, t.attempts, t.queued_at, t.counted, t.user_id, b.created_at, b.total
            FROM tasks t JOIN batches b USING (batch_id) WHERE t.batch_id = @b ORDER BY t.seq
            """, connection);
        command.Parameters.AddWithValue("b", BatchId);
        var rows = new List<(Guid Id, int Seq, string Key, JsonNode Input, string Status, int Attempts, DateTimeOffset QueuedAt, bool Counted, string UserId, DateTimeOffset CreatedAt, int Total)>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                rows.Add((reader.GetGuid(0), reader.GetInt32(1), reader.GetString(2), JsonNode.Parse(reader.GetString(3))!, reader.GetString(4),
                    reader.GetInt32(5), reader.GetFieldValue<DateTimeOffset>(6), reader.GetBoolean(7), reader.GetString(8),
                    reader.GetFieldValue<DateTimeOffset>(9), reader.GetInt32(10)));
            }
        }

        var wrong = rows.Where(r => r.Key != Key(r.Seq) || !JsonNode.DeepEquals(r.Input, Input(r.Seq))).Select(r => r.Seq).Take(5).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(rows, Has.Count.EqualTo(Tasks));
            Assert.That(rows.Select(r => r.Seq), Is.EqualTo(Enumerable.Range(0, Tasks)), "seq 0 to 9,999 in submission order");
            Assert.That(wrong, Is.Empty, "rows whose key or input differs from what was sent at their position");
            Assert.That(rows.Select(r => r.Id).Distinct().Count(), Is.EqualTo(Tasks), "task ids unique");
            Assert.That(rows.Where(r => r.Status != "queued" || r.Attempts != 0 || r.Counted || r.UserId != _userId), Is.Empty,
                "every row queued, not attempted, not counted, the caller's");
            Assert.That(rows.Select(r => r.QueuedAt).Distinct(), Is.EqualTo(new[] { rows[0].CreatedAt }), "queued when the batch was stored");
            Assert.That(rows[0].CreatedAt, Is.GreaterThan(_sentAt.AddMinutes(-1)).And.LessThan(DateTimeOffset.UtcNow.AddMinutes(1)));
            Assert.That(rows[0].Total, Is.EqualTo(Tasks));
        });
    }

    [Test]
    public async Task Should_reserve_the_whole_batch_against_the_quota()
    {
        using var admin = _app.Admin();
        var user = (await admin.GetFromJsonAsync<JsonObject>($"/v1/users/{_userId}"))!;

        Assert.That(user["reserved"]!.GetValue<int>(), Is.EqualTo(Tasks));
    }

    [Test]
    public async Task Should_announce_the_batch_once_and_no_task_alone()
    {
        // The relay has published the outbox once it is empty; a publish declares its message type's exchange.
        await Poll.Until(async () => await Scalar("SELECT count(*) FROM outbox_messages") == 0, TimeSpan.FromSeconds(30), "the outbox to be relayed");
        using var management = await LocalInfrastructure.ManagementClient();
        var vhost = Uri.EscapeDataString(new Uri(_rabbitMq).AbsolutePath.TrimStart('/'));
        var exchanges = (await management.GetFromJsonAsync<JsonArray>($"/api/exchanges/{vhost}"))!
            .Select(e => e!["name"]!.GetValue<string>()).ToList();
        TestContext.Out.WriteLine(string.Join(", ", exchanges));

        Assert.Multiple(() =>
        {
            Assert.That(exchanges, Has.Member("Platform.Contracts:BatchSubmitted"));
            Assert.That(exchanges, Has.None.EqualTo("Platform.Contracts:TaskQueued"));
        });
    }

    [Test]
    public async Task Should_refuse_a_key_repeated_at_the_end_naming_it_and_store_nothing()
    {
        var (userId, user) = await _app.CreateUser("duplicate", "enterprise");
        using (user)
        {
            var keys = Enumerable.Range(0, Tasks).Select(Key).ToList();
            keys[^1] = keys[0];
            using var response = await user.PostAsJsonAsync("/v1/batches", Body(keys));
            var problem = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
            var errors = problem["errors"]!.AsObject();
            var stored = await StoredRows.Of(userId, _database);

            Assert.Multiple(() =>
            {
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
                Assert.That(errors.Select(e => e.Key), Is.EqualTo(new[] { $"tasks[{Tasks - 1}].key" }));
                Assert.That(errors[$"tasks[{Tasks - 1}].key"]![0]!.GetValue<string>(), Does.Contain("'task-00000' is used twice"));
                Assert.That(stored, Is.EqualTo((0L, 0L)), "no batch and no task rows");
            });
        }
    }

    async Task<long> Scalar(string sql)
    {
        await using var connection = new NpgsqlConnection(_database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
