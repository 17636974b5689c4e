using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Platform.Intake.Tests.Endpoints;

/// <summary>DESIGN.md: a duplicate <c>Idempotency-Key</c> with the same body returns the first answer, with another body 409.</summary>
[TestFixture]
public sealed class When_a_submission_is_repeated_with_an_idempotency_key
{
    static IntakeApplication App => AssemblySetup.Application;

    HttpClient _user = null!;

    [OneTimeSetUp]
    public async Task CreateUser() => (_, _user) = await App.CreateUser("idempotent");

    [OneTimeTearDown]
    public void Dispose() => _user.Dispose();

    static object Body(string name) => new
    {
        name,
        instructions = "Research {company}",
        tasks = new[] { new { key = "a", input = new { company = "Acme" } }, new { key = "b", input = new { company = "Globex" } } },
    };

    async Task<(HttpStatusCode Status, JsonObject? Body)> Submit(string key, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/batches") { Content = JsonContent.Create(body) };
        request.Headers.Add("Idempotency-Key", key);
        using var response = await _user.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonObject>());
    }

    async Task<int> BatchesNamed(string name) =>
        (await _user.GetFromJsonAsync<JsonObject>("/v1/batches"))!["items"]!.AsArray().Count(b => b!["name"]!.GetValue<string>() == name);

    [Test]
    public async Task Should_answer_the_same_body_with_the_first_answer_and_create_nothing_more()
    {
        var first = await Submit("key-same", Body("same"));
        var again = await Submit("key-same", Body("same"));
        var created = await BatchesNamed("same");
        TestContext.Out.WriteLine($"first {first.Status} {first.Body?["batchId"]}, again {again.Status} {again.Body?["batchId"]}; batches created: {created}");

        Assert.Multiple(() =>
        {
            Assert.That(first.Status, Is.EqualTo(HttpStatusCode.Accepted));
            Assert.That(again.Status, Is.EqualTo(HttpStatusCode.Accepted));
            Assert.That(again.Body!["batchId"]!.GetValue<Guid>(), Is.EqualTo(first.Body!["batchId"]!.GetValue<Guid>()));
            Assert.That(again.Body["total"]!.GetValue<int>(), Is.EqualTo(2));
            Assert.That(created, Is.EqualTo(1), "the repeat created no second batch");
        });
    }

    [Test]
    public async Task Should_refuse_another_body_with_409_naming_the_key()
    {
        var first = await Submit("key-other", Body("one"));
        var other = await Submit("key-other", Body("another"));
        TestContext.Out.WriteLine($"first {first.Status}, other body {other.Status}: {other.Body?["detail"]}");

        Assert.Multiple(() =>
        {
            Assert.That(first.Status, Is.EqualTo(HttpStatusCode.Accepted));
            Assert.That(other.Status, Is.EqualTo(HttpStatusCode.Conflict));
            Assert.That(other.Body!["detail"]!.GetValue<string>(), Does.Contain("key-other"));
        });
    }
}
