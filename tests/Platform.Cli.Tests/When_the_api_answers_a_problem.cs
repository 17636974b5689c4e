using System.Net;
using Platform.Cli.Api;

namespace Platform.Cli.Tests;

public sealed class When_the_api_answers_a_problem
{
    [TestCase(HttpStatusCode.BadRequest, ExitCodes.Usage)]
    [TestCase(HttpStatusCode.NotFound, ExitCodes.Usage)]
    [TestCase(HttpStatusCode.Conflict, ExitCodes.Usage)]
    [TestCase(HttpStatusCode.UnprocessableEntity, ExitCodes.Usage)]
    [TestCase(HttpStatusCode.Unauthorized, ExitCodes.Auth)]
    [TestCase(HttpStatusCode.Forbidden, ExitCodes.Auth)]
    [TestCase(HttpStatusCode.InternalServerError, ExitCodes.Server)]
    [TestCase(HttpStatusCode.BadGateway, ExitCodes.Server)]
    public void Should_exit_with_the_code_of_its_kind(HttpStatusCode status, int exitCode)
    {
        Assert.That(Problem.From(status, "GET", "/v1/queue", "").ExitCode, Is.EqualTo(exitCode));
    }

    [Test]
    public void Should_say_the_title_detail_and_every_field_error()
    {
        const string body = """
            {"type":"https://platform.local/problems/validation","title":"The request is invalid","status":400,
             "detail":"name is required; tasks[1].key must be unique",
             "errors":{"name":["name is required"],"tasks[1].key":["tasks[1].key must be unique"]}}
            """;

        var error = Problem.From(HttpStatusCode.BadRequest, "POST", "/v1/batches", body);

        Assert.Multiple(() =>
        {
            Assert.That(error.Message, Does.Contain("answered 400: The request is invalid: name is required; tasks[1].key must be unique"));
            Assert.That(error.Details, Is.EqualTo(new[] { "name: name is required", "tasks[1].key: tasks[1].key must be unique" }));
        });
    }

    [Test]
    public void Should_name_the_field_of_a_single_error_in_the_message()
    {
        const string body = """{"title":"The request is invalid","detail":"tier 'gold' is unknown","errors":{"tier":["tier 'gold' is unknown"]}}""";

        var error = Problem.From(HttpStatusCode.BadRequest, "POST", "/v1/users", body);

        Assert.That(error.Message, Does.EndWith("The request is invalid: tier: tier 'gold' is unknown"));
    }
}
