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
        request.Tasks![1]!.Key = " ";

        AssertRefused(request, "tasks[1].key", "key is required");
    }

    [Test]
    public void Should_refuse_a_key_over_200_characters()
    {
        var request = Valid();
        request.Tasks![0]!.Key = new string('k', 201);

        AssertRefused(request, "tasks[0].key", "at most 200 characters", "got 201");
    }

    [Test]
    public void Should_refuse_a_key_used_twice_in_the_batch()
    {
        var request = Valid(tasks: 3);
        request.Tasks![2]!.Key = request.Tasks[0]!.Key;

        AssertRefused(request, "tasks[2].key", "'task-0' is used twice");
    }

    [Test]
    public void Should_require_an_input_on_every_task()
    {
        var request = Valid();
        request.Tasks![1]!.Input = null;

        AssertRefused(request, "tasks[1].input", "input is required");
    }

    [Test]
    public void Should_refuse_an_input_over_16_KiB_of_json()
    {
        var request = Valid();
        var input = new JsonObject { ["company"] = "Acme", ["notes"] = new string('x', 16 * 1024) };
        request.Tasks![0]!.Input = input;

        AssertRefused(request, "tasks[0].input", "at most 16384 bytes", $"got {BatchRequestValidator.JsonSize(input)}");
    }

    [Test]
    public void Should_accept_an_input_of_exactly_16_KiB_of_json()
    {
        var request = Valid();
        var input = new JsonObject { ["company"] = "Acme", ["notes"] = "" };
        input["notes"] = new string('x', 16 * 1024 - BatchRequestValidator.JsonSize(input));
        request.Tasks![0]!.Input = input;

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
        request.Tasks![0]!.Input!["country"] = "NL";

        // Task 0 has both fields; task 1 lacks {country}.
        AssertRefused(request, "tasks[1].input.country", "{country}");
        Assert.That(Errors(request).Select(e => e.Field), Has.None.StartsWith("tasks[0]"));
    }

    [Test]
    public void Should_name_every_broken_task_of_a_full_batch_by_its_index()
    {
        var request = Valid(tasks: 10_000);
        request.Tasks![0]!.Key = "";
        request.Tasks[4_321] = null;
        request.Tasks[9_998]!.Input!.Remove("company");
        request.Tasks[9_999]!.Key = "task-17";

        var errors = Errors(request);
        Assert.Multiple(() =>
        {
            Assert.That(errors.Select(e => e.Field), Is.EquivalentTo(new[] { "tasks[0].key", "tasks[4321]", "tasks[9998].input.company", "tasks[9999].key" }));
            AssertRefused(request, "tasks[9999].key", "'task-17' is used twice");
        });
    }

    [Test]
    public void Should_refuse_a_null_task_naming_its_index()
    {
        var request = Valid(tasks: 3);
        request.Tasks![1] = null;

        AssertRefused(request, "tasks[1]", "must be an object {key, input}", "got null");
        Assert.That(Errors(request).Select(e => e.Field), Has.None.StartsWith("tasks[0]").And.None.StartsWith("tasks[2]"));
    }

    static BatchRequest Simulating(string simulateJson)
    {
        var request = Valid();
        request.Tasks![0]!.Input!["simulate"] = JsonNode.Parse(simulateJson);
        return request;
    }

    [TestCase("{\"durationMs\": 0}")]
    [TestCase("{\"durationMs\": 600000, \"fail\": \"transient\", \"failTimes\": 100}")]
    [TestCase("{\"fail\": \"permanent\"}")]
    [TestCase("{\"fail\": \"crash\", \"failTimes\": 0}")]
    public void Should_accept_a_simulate_object_the_worker_can_run(string simulate)
    {
        Assert.That(Errors(Simulating(simulate)), Is.Empty);
    }

    [TestCase("{\"durationMs\": -5}", "durationMs", "from 0 to 600000", "got -5")]
    [TestCase("{\"durationMs\": 1000000000000}", "durationMs", "from 0 to 600000", "got 1000000000000")]
    [TestCase("{\"durationMs\": 600001}", "durationMs", "from 0 to 600000", "got 600001")]
    [TestCase("{\"durationMs\": 1.5}", "durationMs", "must be an integer", "got 1.5")]
    [TestCase("{\"durationMs\": \"100\"}", "durationMs", "must be an integer", "got \"100\"")]
    [TestCase("{\"durationMs\": null}", "durationMs", "must be an integer", "got null")]
    [TestCase("{\"fail\": \"sometimes\"}", "fail", "one of transient, permanent, crash", "got \"sometimes\"")]
    [TestCase("{\"fail\": true}", "fail", "one of transient, permanent, crash", "got true")]
    [TestCase("{\"failTimes\": 101}", "failTimes", "from 0 to 100", "got 101")]
    [TestCase("{\"failTimes\": -1}", "failTimes", "from 0 to 100", "got -1")]
    [TestCase("{\"durationMS\": 100}", "durationMS", "is unknown", "durationMs, fail, failTimes")]
    public void Should_refuse_a_simulate_member_the_worker_cannot_run(string simulate, string member, string limit, string got)
    {
        AssertRefused(Simulating(simulate), $"tasks[0].input.simulate.{member}", limit, got);
    }

    [TestCase("\"slow\"")]
    [TestCase("[]")]
    [TestCase("null")]
    public void Should_refuse_a_simulate_that_is_not_an_object(string simulate)
    {
        var request = Valid();
        request.Tasks![0]!.Input!["simulate"] = JsonNode.Parse(simulate);

        AssertRefused(request, "tasks[0].input.simulate", "must be an object {durationMs, fail, failTimes}", $"got {simulate}");
    }

    [Test]
    public void Should_take_the_simulated_duration_limit_from_configuration()
    {
        var validator = new BatchRequestValidator(Options.Create(new IntakeOptions { MaxSimulatedDurationMs = 1000 }));
        var errors = validator.Validate(Simulating("{\"durationMs\": 1001}")).Errors.Select(e => e.ErrorMessage).ToList();

        Assert.That(errors, Has.Some.Contains("from 0 to 1000"));
    }

    [Test]
    public void Should_refuse_a_nul_character_in_the_name_and_a_key()
    {
        var request = Valid();
        request.Name = "com\0panies";
        request.Tasks![0]!.Key = "a\0";

        Assert.Multiple(() =>
        {
            AssertRefused(request, "name", "NUL");
            AssertRefused(request, "tasks[0].key", "NUL");
        });
    }

    [TestCase("{\"company\": \"Ac\\u0000me\"}", "tasks[0].input.company")]
    [TestCase("{\"company\": \"Acme\", \"notes\": [\"ok\", \"\\ud800\"]}", "tasks[0].input.notes[1]")]
    [TestCase("{\"company\": \"Acme\", \"n\\u0000\": 1}", "tasks[0].input")]
    public void Should_refuse_input_text_postgresql_cannot_store(string input, string field)
    {
        var request = Valid();
        request.Tasks![0]!.Input = JsonNode.Parse(input)!.AsObject();

        AssertRefused(request, field, "valid Unicode text without NUL");
    }

    [Test]
    public void Should_refuse_an_input_number_beyond_a_double()
    {
        var request = Valid();
        request.Tasks![0]!.Input = JsonNode.Parse("{\"company\": \"Acme\", \"revenue\": 1e400}")!.AsObject();

        AssertRefused(request, "tasks[0].input.revenue", "must be a number within");
    }
}
