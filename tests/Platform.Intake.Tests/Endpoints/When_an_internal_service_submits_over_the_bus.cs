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

    static async Task<long> Scalar(string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(AssemblySetup.Database);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
