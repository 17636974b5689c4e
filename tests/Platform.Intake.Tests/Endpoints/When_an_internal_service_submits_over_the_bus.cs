using System.Net;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Platform.Contracts;
using Platform.Testing;

namespace Platform.Intake.Tests.Endpoints;

/// <summary>The <c>SubmitBatch</c> command on the real broker: same validation and quota as HTTP, deduplicated by batch id.</summary>
[TestFixture]
public sealed class When_an_internal_service_submits_over_the_bus
{
    static IntakeApplication App => AssemblySetup.Application;

    static SubmitBatch Command(string userId, Guid batchId, int tasks, string instructions = "Research {company}") =>
        new(batchId, userId, "over the bus", instructions,
            Enumerable.Range(0, tasks).Select(i => new TaskSpec($"task-{i}", new Dictionary<string, object?> { ["company"] = $"Company {i}" })).ToList(),
            DateTimeOffset.UtcNow);

    [Test]
    public async Task Should_store_the_batch_once_however_often_the_command_arrives()
    {
        var (userId, user) = await App.CreateUser("bus");
        using var _ = user;
        var batchId = NewId.NextGuid();
        var client = App.Services.GetRequiredService<IBus>().CreateRequestClient<SubmitBatch>(RequestTimeout.After(s: 20));

        // Sent as requests so the test knows when each was processed; a resent command gets the same answer.
        var first = await client.GetResponse<BatchSubmitted, BatchRejected>(Command(userId, batchId, tasks: 3));
        var again = await client.GetResponse<BatchSubmitted, BatchRejected>(Command(userId, batchId, tasks: 3));
        var stored = await Scalar($"SELECT count(*) FROM tasks WHERE batch_id = '{batchId}'");
        var batches = await Scalar($"SELECT count(*) FROM batches WHERE user_id = '{userId}'");
        using var view = await user.GetAsync($"/v1/batches/{batchId}");

        Assert.Multiple(() =>
        {
            Assert.That(first.Is(out Response<BatchSubmitted>? _), Is.True, "accepted");
            Assert.That(again.Is(out Response<BatchSubmitted>? _), Is.True, "the resent command gets the same answer");
            Assert.That(view.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the owner sees the batch over HTTP");
            Assert.That(stored, Is.EqualTo(3), "three task rows, not six");
            Assert.That(batches, Is.EqualTo(1), "one batch, not two");
        });
    }

    [Test]
    public async Task Should_answer_an_invalid_command_with_the_field_and_the_limit()
    {
        var (userId, user) = await App.CreateUser("bus-invalid");
        using var _ = user;
        var client = App.Services.GetRequiredService<IBus>().CreateRequestClient<SubmitBatch>(RequestTimeout.After(s: 20));

        var rejected = await client.GetResponse<BatchRejected>(Command(userId, NewId.NextGuid(), tasks: 10_001));
        var batches = await Scalar($"SELECT count(*) FROM batches WHERE user_id = '{userId}'");

        Assert.Multiple(() =>
        {
            Assert.That(rejected.Message.Errors.Keys, Does.Contain("tasks"));
            Assert.That(string.Join(" ", rejected.Message.Errors["tasks"]), Does.Contain("10000").Or.Contain("10,000"), "names the limit");
            Assert.That(batches, Is.EqualTo(0), "nothing stored");
        });
    }

    static IEnumerable<TestCaseData> Unreadable()
    {
        static TaskSpec Simulating(string key, object simulate) =>
            new(key, new Dictionary<string, object?> { ["company"] = "Acme", ["simulate"] = simulate });

        yield return new TestCaseData(new List<TaskSpec> { new("a", new Dictionary<string, object?> { ["company"] = "Acme" }), null! }, "tasks[1]", "got null")
            .SetName("a null task");
        yield return new TestCaseData(new List<TaskSpec> { Simulating("a", new Dictionary<string, object?> { ["durationMs"] = -5 }) },
            "tasks[0].input.simulate.durationMs", "from 0 to 600000").SetName("a negative duration");
        yield return new TestCaseData(new List<TaskSpec> { Simulating("a", new Dictionary<string, object?> { ["fail"] = "sometimes" }) },
            "tasks[0].input.simulate.fail", "one of transient, permanent, crash").SetName("an unknown failure");
        yield return new TestCaseData(new List<TaskSpec> { new("a", null!) }, "tasks[0].input", "input is required").SetName("a null input");
        yield return new TestCaseData(new List<TaskSpec> { new(null!, new Dictionary<string, object?> { ["company"] = "Acme" }) }, "tasks[0].key", "key is required")
            .SetName("a null key");
    }

    [TestCaseSource(nameof(Unreadable))]
    public async Task Should_answer_what_http_refuses_with_a_rejection_not_a_fault(List<TaskSpec> tasks, string field, string mention)
    {
        var (userId, user) = await App.CreateUser("bus-unreadable");
        user.Dispose();
        var client = App.Services.GetRequiredService<IBus>().CreateRequestClient<SubmitBatch>(RequestTimeout.After(s: 20));

        // A fault would answer the request with Fault<SubmitBatch>, which GetResponse throws as a RequestFaultException.
        var rejected = await client.GetResponse<BatchRejected>(new SubmitBatch(NewId.NextGuid(), userId, "over the bus", "Research {company}", tasks,
            DateTimeOffset.UtcNow));

        Assert.Multiple(async () =>
        {
            Assert.That(rejected.Message.Errors.Keys, Does.Contain(field), string.Join("; ", rejected.Message.Errors.Select(e => $"{e.Key}: {string.Join(" ", e.Value)}")));
            Assert.That(rejected.Message.Errors.GetValueOrDefault(field) ?? [], Has.Some.Contains(mention));
            Assert.That(await StoredRows.Of(userId), Is.EqualTo((0L, 0L)), "no batch or task rows");
        });
    }

    [Test]
    public async Task Should_reject_a_command_without_a_batch_id_or_user()
    {
        var client = App.Services.GetRequiredService<IBus>().CreateRequestClient<SubmitBatch>(RequestTimeout.After(s: 20));

        var rejected = await client.GetResponse<BatchRejected>(new SubmitBatch(Guid.Empty, null!, "over the bus", "Research {company}",
            [new TaskSpec("a", new Dictionary<string, object?> { ["company"] = "Acme" })], DateTimeOffset.UtcNow));

        Assert.That(rejected.Message.Errors.Keys, Is.SupersetOf(new[] { "batchId", "userId" }));
    }

    static async Task<long> Scalar(string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(AssemblySetup.Database);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
