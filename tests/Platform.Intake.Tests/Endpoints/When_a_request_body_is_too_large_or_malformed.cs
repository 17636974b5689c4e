using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Platform.Intake.Tests.Endpoints;

[TestFixture]
public sealed class When_a_request_body_is_too_large_or_malformed
{
    static IntakeApplication App => AssemblySetup.Application;

    HttpClient _user = null!;

    [OneTimeSetUp]
    public async Task CreateUser() => (_, _user) = await App.CreateUser("body");

    [OneTimeTearDown]
    public void Dispose() => _user.Dispose();

    [Test]
    public async Task Should_answer_413_naming_the_body_limit()
    {
        // Valid JSON, just too much of it: only the size may be the reason for the refusal.
        var tasks = Enumerable.Range(0, 200).Select(i => new { key = $"task-{i}", input = new { company = new string('c', 500) } });
        using var body = JsonContent.Create(new { name = "big", instructions = "Research {company}", tasks });
        await body.LoadIntoBufferAsync();
        Assert.That(body.Headers.ContentLength, Is.GreaterThan(IntakeApplication.MaxRequestBodyBytes), "the test's body must exceed the limit");

        using var response = await _user.PostAsync("/v1/batches", body);
        var text = await response.Content.ReadAsStringAsync();
        var problem = text.Length > 0 ? JsonNode.Parse(text) : null;

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(problem?["errors"]?["body"]?[0]?.GetValue<string>() ?? "", Does.Contain($"at most {IntakeApplication.MaxRequestBodyBytes} bytes"),
                $"{(int)response.StatusCode}: {text}");
        });
    }

    [Test]
    public async Task Should_answer_400_naming_the_body_when_it_is_not_json()
    {
        using var body = new StringContent("{ \"name\": \"half a batch\", ", Encoding.UTF8, "application/json");

        using var response = await _user.PostAsync("/v1/batches", body);
        var text = await response.Content.ReadAsStringAsync();
        var problem = text.Length > 0 ? JsonNode.Parse(text) : null;

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(problem?["errors"]?["body"]?[0]?.GetValue<string>() ?? "", Does.Contain("not valid JSON"), $"{(int)response.StatusCode}: {text}");
        });
    }
}
