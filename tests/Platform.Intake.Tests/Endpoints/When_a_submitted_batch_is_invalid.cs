using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Platform.Intake.Tests.Endpoints;

[TestFixture]
public sealed class When_a_submitted_batch_is_invalid
{
    static IntakeApplication App => AssemblySetup.Application;

    HttpClient _user = null!;
    HttpResponseMessage _response = null!;
    JsonObject _problem = null!;

    [OneTimeSetUp]
    public async Task Submit()
    {
        (_, _user) = await App.CreateUser("invalid");
        _response = await _user.PostAsJsonAsync("/v1/batches", new
        {
            name = new string('n', 201),
            instructions = "Research {company}",
            tasks = new object[]
            {
                new { key = "a", input = new { company = "Acme" } },
                new { key = "a", input = new { company = "Acme again" } },
                new { key = "b", input = new { city = "Delft" } },
            },
        });
        _problem = (await _response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    [OneTimeTearDown]
    public void Dispose()
    {
        _response.Dispose();
        _user.Dispose();
    }

    string[] ErrorsOn(string field) =>
        _problem["errors"]?[field]?.AsArray().Select(m => m!.GetValue<string>()).ToArray() ?? [];

    [Test]
    public void Should_answer_400_with_a_validation_problem()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(_response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(_problem["type"]?.GetValue<string>(), Does.EndWith("/validation"));
            Assert.That(_problem["status"]?.GetValue<int>(), Is.EqualTo(400));
        });
    }

    [Test]
    public void Should_name_each_field_as_it_is_spelled_in_the_request_with_its_limit()
    {
        Assert.Multiple(() =>
        {
            Assert.That(ErrorsOn("name"), Has.Some.Contains("at most 200 characters"), _problem.ToJsonString());
            Assert.That(ErrorsOn("tasks[1].key"), Has.Some.Contains("'a' is used twice"), _problem.ToJsonString());
            Assert.That(ErrorsOn("tasks[2].input.company"), Has.Some.Contains("{company}"), _problem.ToJsonString());
        });
    }

    [Test]
    public async Task Should_store_nothing()
    {
        var page = await _user.GetFromJsonAsync<JsonObject>("/v1/batches");

        Assert.That(page!["total"]!.GetValue<int>(), Is.Zero);
    }
}
