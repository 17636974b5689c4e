using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Platform.Intake.Submission;

namespace Platform.Intake.Tests.Submission;

/// <summary>
/// One test per rule, each against the shipped defaults. The caller must be able to fix the request from the error
/// alone, so each asserts the field (as it is spelled in the request's JSON) and the limit or value that was broken.
/// </summary>
[TestFixture]
public sealed class When_a_batch_request_is_validated
{
    readonly BatchRequestValidator _validator = new(Options.Create(new IntakeOptions()));

    static BatchRequest Valid(int tasks = 2) => new()
    {
        Name = "companies",
        Instructions = "Research {company}: founding year, HQ",
        Tasks = [.. Enumerable.Range(0, tasks).Select(i => Task($"task-{i}", new JsonObject { ["company"] = $"Company {i}" }))],
    };

    static TaskRequest Task(string? key, JsonObject? input) => new() { Key = key, Input = input };

    List<(string Field, string Message)> Errors(BatchRequest request) =>
        [.. _validator.Validate(request).Errors.Select(e => (e.PropertyName, e.ErrorMessage))];

    void AssertRefused(BatchRequest request, string field, params string[] mentions)
    {
        var errors = Errors(request);
        var messages = errors.Where(e => e.Field == field).Select(e => e.Message).ToList();
        Assert.That(messages, Is.Not.Empty, $"an error on '{field}'; got [{string.Join("; ", errors.Select(e => $"{e.Field}: {e.Message}"))}]");
        foreach (var mention in mentions)
            Assert.That(messages, Has.Some.Contains(mention), $"the error on '{field}' mentions '{mention}'");
    }

    [Test]
    public void Should_accept_a_valid_request()
    {
        Assert.That(Errors(Valid()), Is.Empty);
    }

    [Test]
    public void Should_require_a_name()
    {
        var request = Valid();
        request.Name = "";

        AssertRefused(request, "name", "name is required");
    }

    [Test]
    public void Should_refuse_a_name_over_200_characters()
    {
        var request = Valid();
        request.Name = new string('n', 201);

        AssertRefused(request, "name", "at most 200 characters", "got 201");
    }

    [Test]
    public void Should_require_instructions()
    {
        var request = Valid();
        request.Instructions = null;

        AssertRefused(request, "instructions", "instructions is required");
    }

    [Test]
    public void Should_refuse_instructions_over_8000_characters()
    {
        var request = Valid();
        request.Instructions = "Research {company} " + new string('i', 8_000);

        AssertRefused(request, "instructions", "at most 8000 characters", $"got {request.Instructions.Length}");
    }

    [Test]
    public void Should_require_tasks()
    {
        var request = Valid();
        request.Tasks = null;

        AssertRefused(request, "tasks", "tasks is required");
    }

    [Test]
    public void Should_refuse_an_empty_batch()
    {
        var request = Valid(tasks: 0);

        AssertRefused(request, "tasks", "at least 1 task");
    }

    [Test]
    public void Should_refuse_more_than_10000_tasks()
    {
        var request = Valid(tasks: 10_001);

        AssertRefused(request, "tasks", "at most 10000 tasks", "got 10001");
    }

    [Test]
    public void Should_accept_exactly_10000_tasks()
    {
        Assert.That(Errors(Valid(tasks: 10_000)), Is.Empty);
    }

    [Test]
    public void Should_require_a_key_on_every_task()
    {
        var request = Valid();
        request.Tasks![1].Key = " ";

        AssertRefused(request, "tasks[1].key", "key is required");
    }

    [Test]
    public void Should_refuse_a_key_over_200_characters()
    {
        var request = Valid();
        request.Tasks![0].Key = new string('k', 201);

        AssertRefused(request, "tasks[0].key", "at most 200 characters", "got 201");
    }

    [Test]
    public void Should_refuse_a_key_used_twice_in_the_batch()
    {
        var request = Valid(tasks: 3);
        request.Tasks![2].Key = request.Tasks[0].Key;

        AssertRefused(request, "tasks[2].key", "'task-0' is used twice");
    }

    [Test]
    public void Should_require_an_input_on_every_task()
    {
        var request = Valid();
        request.Tasks![1].Input = null;

        AssertRefused(request, "tasks[1].input", "input is required");
    }

    [Test]
    public void Should_refuse_an_input_over_16_KiB_of_json()
    {
        var request = Valid();
        var input = new JsonObject { ["company"] = "Acme", ["notes"] = new string('x', 16 * 1024) };
        request.Tasks![0].Input = input;

        AssertRefused(request, "tasks[0].input", "at most 16384 bytes", $"got {BatchRequestValidator.JsonSize(input)}");
    }

    [Test]
    public void Should_accept_an_input_of_exactly_16_KiB_of_json()
    {
        var request = Valid();
        var input = new JsonObject { ["company"] = "Acme", ["notes"] = "" };
        input["notes"] = new string('x', 16 * 1024 - BatchRequestValidator.JsonSize(input));
        request.Tasks![0].Input = input;

        Assert.Multiple(() =>
        {
            Assert.That(BatchRequestValidator.JsonSize(input), Is.EqualTo(16 * 1024));
            Assert.That(Errors(request), Is.Empty);
        });
    }

    [Test]
    public void Should_refuse_a_task_whose_input_lacks_a_placeholder_of_the_instructions()
    {
        var request = Valid();
        request.Instructions = "Research {company} in {country}";
        request.Tasks![0].Input!["country"] = "NL";

        // Task 0 has both fields; task 1 lacks {country}.
        AssertRefused(request, "tasks[1].input.country", "{country}");
        Assert.That(Errors(request).Select(e => e.Field), Has.None.StartsWith("tasks[0]"));
    }
}
