using System.Net;
using System.Text.Json.Nodes;

namespace Platform.Intake.Tests.Endpoints;

/// <summary>Query and route values that do not parse or are out of range: 400 naming the parameter and its range.</summary>
[TestFixture]
public sealed class When_query_or_path_values_are_out_of_range
{
    static IntakeApplication App => AssemblySetup.Application;

    HttpClient _user = null!;
    Guid _batchId;

    [OneTimeSetUp]
    public async Task Submit()
    {
        (_, _user) = await App.CreateUser("query");
        _batchId = await IntakeApplication.SubmitBatch(_user);
    }

    [OneTimeTearDown]
    public void Dispose() => _user.Dispose();

    [TestCase("tasks?offset=-1", "offset", "from 0 to 2147483647")]
    [TestCase("tasks?offset=99999999999", "offset", "from 0 to 2147483647")]
    [TestCase("tasks?offset=first", "offset", "from 0 to 2147483647")]
    [TestCase("tasks?limit=0", "limit", "from 1 to 1000")]
    [TestCase("tasks?limit=1000000", "limit", "from 1 to 1000")]
    [TestCase("tasks?limit=ten", "limit", "from 1 to 1000")]
    [TestCase("tasks?status=sometimes", "status", "use one of queued")]
    public async Task Should_refuse_a_tasks_query_naming_the_parameter(string query, string field, string mention)
    {
        using var response = await _user.GetAsync($"/v1/batches/{_batchId}/{query}");

        await AssertRefused(response, field, mention);
    }

    [TestCase("GET", "/v1/batches/not-a-guid")]
    [TestCase("GET", "/v1/batches/12345/tasks")]
    [TestCase("DELETE", "/v1/batches/not-a-guid")]
    public async Task Should_refuse_a_batch_id_that_is_not_a_guid(string method, string path)
    {
        using var response = await _user.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        await AssertRefused(response, "batchId", "must be a GUID");
    }

    [Test]
    public async Task Should_refuse_a_batch_list_query_naming_the_parameter()
    {
        using var response = await _user.GetAsync("/v1/batches?limit=all");

        await AssertRefused(response, "limit", "from 1 to 1000");
    }

    [Test]
    public async Task Should_still_answer_a_valid_query()
    {
        // The refusals above mean something only if the same endpoint answers a valid query.
        using var response = await _user.GetAsync($"/v1/batches/{_batchId}/tasks?offset=1&limit=1&status=queued");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
    }

    static async Task AssertRefused(HttpResponseMessage response, string field, string mention)
    {
        var text = await response.Content.ReadAsStringAsync();
        var problem = text.Length > 0 ? JsonNode.Parse(text) : null;

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), text);
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(problem?["errors"]?[field]?[0]?.GetValue<string>(), Does.Contain(mention), text);
        });
    }
}
