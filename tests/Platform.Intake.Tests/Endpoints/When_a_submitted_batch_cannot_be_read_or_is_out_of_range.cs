using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Platform.Intake.Tests.Endpoints;

/// <summary>
/// Bodies a new user actually sent: each one answered 500 or was accepted and failed later at the worker. Each must be a
/// 400 problem naming the field as it is spelled in the request, with nothing written.
/// </summary>
[TestFixture]
public sealed class When_a_submitted_batch_cannot_be_read_or_is_out_of_range
{
    static IntakeApplication App => AssemblySetup.Application;

    string _userId = null!;
    HttpClient _user = null!;

    [OneTimeSetUp]
    public async Task CreateUser() => (_userId, _user) = await App.CreateUser("unreadable");

    [OneTimeTearDown]
    public void Dispose() => _user.Dispose();

    static string Batch(string tasks) => $$$"""{"name": "companies", "instructions": "Research {company}", "tasks": {{{tasks}}}}""";

    static string Simulating(string simulate) => Batch($$$"""[{"key": "a", "input": {"company": "Acme", "simulate": {{{simulate}}}}}]""");

    static IEnumerable<TestCaseData> Bodies()
    {
        yield return new TestCaseData(Batch("""[{"key": "a", "input": {"company": "Acme"}}, null]"""), "tasks[1]", "got null").SetName("a null task");
        yield return new TestCaseData(Simulating("""{"durationMs": -5}"""), "tasks[0].input.simulate.durationMs", "from 0 to 600000").SetName("a negative duration");
        yield return new TestCaseData(Simulating("""{"durationMs": 1000000000000}"""), "tasks[0].input.simulate.durationMs", "from 0 to 600000")
            .SetName("a duration of 31 years");
        yield return new TestCaseData(Simulating("""{"fail": "sometimes"}"""), "tasks[0].input.simulate.fail", "one of transient, permanent, crash")
            .SetName("an unknown failure");
        yield return new TestCaseData(Simulating("""{"failTimes": 1000}"""), "tasks[0].input.simulate.failTimes", "from 0 to 100").SetName("too many failures");
        yield return new TestCaseData(Simulating("""{"duration": 100}"""), "tasks[0].input.simulate.duration", "is unknown").SetName("an unknown simulate member");
        yield return new TestCaseData(Simulating("\"slow\""), "tasks[0].input.simulate", "must be an object").SetName("a simulate that is not an object");
        yield return new TestCaseData("null", "body", "request body is required").SetName("a null body");
        yield return new TestCaseData("", "body", "request body is required").SetName("an empty body");
        yield return new TestCaseData("[]", "body", "must be a JSON object").SetName("an array body");
        yield return new TestCaseData("""{"name": 5, "instructions": "Research {company}", "tasks": []}""", "name", "must be a string").SetName("a number as the name");
        yield return new TestCaseData(Batch("{}"), "tasks", "must be an array of tasks").SetName("an object as the tasks");
        yield return new TestCaseData(Batch("[1]"), "tasks[0]", "must be an object {key, input}").SetName("a number as a task");
        yield return new TestCaseData(Batch("""[{"key": 5, "input": {"company": "Acme"}}]"""), "tasks[0].key", "must be a string").SetName("a number as a key");
        yield return new TestCaseData(Batch("""[{"key": "a", "input": "Acme"}]"""), "tasks[0].input", "must be a JSON object").SetName("a string as an input");
        yield return new TestCaseData(Batch("""[{"key": "a", "input": {"company": "Ac\u0000me"}}]"""), "tasks[0].input.company", "without NUL")
            .SetName("a NUL character in an input");
        yield return new TestCaseData(Batch("""[{"key": "a", "input": {"company": "\ud800"}}]"""), "tasks[0].input.company", "valid Unicode")
            .SetName("an unpaired surrogate in an input");
        yield return new TestCaseData(Batch("""[{"key": "a\u0000", "input": {"company": "Acme"}}]"""), "tasks[0].key", "without NUL").SetName("a NUL character in a key");
        yield return new TestCaseData(Batch("""[{"key": "a", "input": {"company": "Acme", "revenue": 1e400}}]"""), "tasks[0].input.revenue", "a number within")
            .SetName("a number beyond a double");
    }

    [TestCaseSource(nameof(Bodies))]
    public async Task Should_answer_400_naming_the_field_and_store_nothing(string body, string field, string mention)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await _user.PostAsync("/v1/batches", content);
        var text = await response.Content.ReadAsStringAsync();
        var problem = text.Length > 0 ? JsonNode.Parse(text) : null;
        var messages = problem?["errors"]?[field]?.AsArray().Select(m => m!.GetValue<string>()).ToList() ?? [];

        Assert.Multiple(async () =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), text);
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(messages, Has.Some.Contains(mention), $"an error on '{field}' mentioning '{mention}': {text}");
            Assert.That(await StoredRows.Of(_userId), Is.EqualTo((0L, 0L)), "no batch or task rows");
        });
    }

    [TestCase("", "1 to 200 characters")]
    [TestCase("two words", "visible ASCII")]
    [TestCase("tab\there", "visible ASCII")]
    public async Task Should_refuse_a_malformed_idempotency_key(string key, string mention)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/batches")
        {
            Content = new StringContent(Batch("""[{"key": "a", "input": {"company": "Acme"}}]"""), Encoding.UTF8, "application/json"),
        };
        Assert.That(request.Headers.TryAddWithoutValidation("Idempotency-Key", key), Is.True);

        using var response = await _user.SendAsync(request);
        var problem = JsonNode.Parse(await response.Content.ReadAsStringAsync());

        Assert.Multiple(async () =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), problem?.ToJsonString());
            Assert.That(problem?["errors"]?["Idempotency-Key"]?[0]?.GetValue<string>(), Does.Contain(mention), problem?.ToJsonString());
            Assert.That(await StoredRows.Of(_userId), Is.EqualTo((0L, 0L)), "no batch or task rows");
        });
    }
}
