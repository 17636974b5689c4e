using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Platform.Data.Model;

namespace Platform.Intake.Tests.Endpoints;

/// <summary>
/// The OpenAPI document against the app's own endpoints: every API route mapped must be described, with the responses
/// its shape implies (a route parameter can be unknown: 404; a body can be malformed or too large: 400 and 413; ...).
/// A new endpoint without its description fails here, not in a client.
/// </summary>
[TestFixture]
public sealed class When_the_api_is_described
{
    static IntakeApplication App => AssemblySetup.Application;

    JsonObject _document = null!;
    IReadOnlyList<ApiEndpoint> _endpoints = null!;

    sealed record ApiEndpoint(string Method, string Path, RouteEndpoint Endpoint)
    {
        public override string ToString() => $"{Method} {Path}";
    }

    [OneTimeSetUp]
    public async Task FetchTheDocument()
    {
        using var anonymous = App.Client(apiKey: null);
        using var response = await anonymous.GetAsync("/openapi/v1.json");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "anyone may read the document");
        _document = (await response.Content.ReadFromJsonAsync<JsonObject>())!;

        _endpoints = App.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith("/v1/", StringComparison.Ordinal) == true)
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? []).Select(m => new ApiEndpoint(m, OpenApiPath(e), e)))
            .ToList();
        Assert.That(_endpoints, Has.Count.GreaterThanOrEqualTo(10), "the API's endpoints were found");
    }

    /// <summary><c>/v1/batches/{batchId:guid}</c> as OpenAPI writes it: <c>/v1/batches/{batchId}</c>.</summary>
    static string OpenApiPath(RouteEndpoint endpoint) =>
        "/" + string.Join('/', endpoint.RoutePattern.PathSegments.Select(s => string.Concat(s.Parts.Select(p => p switch
        {
            Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart l => l.Content,
            Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart r => "{" + r.Name + "}",
            _ => "",
        }))));

    JsonObject? Operation(ApiEndpoint e) => _document["paths"]?[e.Path]?[e.Method.ToLowerInvariant()] as JsonObject;

    JsonObject Responses(ApiEndpoint e) => Operation(e)?["responses"] as JsonObject ?? [];

    static bool RequiresAuthorization(RouteEndpoint e) =>
        e.Metadata.GetOrderedMetadata<IAuthorizeData>().Any() && e.Metadata.GetMetadata<IAllowAnonymous>() is null;

    /// <summary>A schema as written or behind its <c>$ref</c>.</summary>
    JsonObject Resolve(JsonNode? schema) =>
        schema?["$ref"]?.GetValue<string>() is { } reference
            ? (JsonObject)_document["components"]!["schemas"]![reference["#/components/schemas/".Length..]]!
            : (JsonObject)schema!;

    [Test]
    public void Should_describe_every_api_endpoint_with_a_summary()
    {
        Assert.Multiple(() =>
        {
            foreach (var e in _endpoints)
            {
                Assert.That(Operation(e), Is.Not.Null, $"{e} is missing from the document");
                Assert.That(Operation(e)?["summary"]?.GetValue<string>(), Is.Not.Null.And.Not.Empty, $"{e} has no summary");
                Assert.That(Operation(e)?["description"]?.GetValue<string>(), Is.Not.Null.And.Not.Empty, $"{e} has no description");
            }
        });
    }

    [Test]
    public void Should_describe_no_api_operation_that_is_not_mapped()
    {
        var described = _document["paths"]!.AsObject()
            .Where(p => p.Key.StartsWith("/v1/", StringComparison.Ordinal))
            .SelectMany(p => p.Value!.AsObject().Select(o => $"{o.Key.ToUpperInvariant()} {p.Key}"));

        Assert.That(described, Is.EquivalentTo(_endpoints.Select(e => e.ToString())));
    }

    [Test]
    public void Should_give_every_endpoint_a_success_response_with_a_schema()
    {
        Assert.Multiple(() =>
        {
            foreach (var e in _endpoints)
            {
                var successes = Responses(e).Where(r => r.Key.StartsWith('2')).ToList();
                Assert.That(successes, Is.Not.Empty, $"{e} has no success response");
                foreach (var (status, response) in successes.Where(s => s.Key != "204"))
                {
                    var schemas = response?["content"]?.AsObject().Where(c => c.Value?["schema"] is not null).Select(c => c.Key).ToList() ?? [];
                    Assert.That(schemas, Is.Not.Empty, $"{e} answers {status} without a schema");
                }
            }
        });
    }

    [Test]
    public void Should_describe_the_problems_each_endpoint_can_answer()
    {
        Assert.Multiple(() =>
        {
            foreach (var e in _endpoints)
            {
                var expected = new SortedSet<string> { "429" };
                if (RequiresAuthorization(e.Endpoint))
                    expected.Add("401");
                if (e.Endpoint.Metadata.GetOrderedMetadata<IAuthorizeData>().Any(a => a.Policy is not null))
                    expected.Add("403");
                if (e.Endpoint.Metadata.GetMetadata<IAcceptsMetadata>() is not null)
                    expected.UnionWith(["400", "413"]);
                if (e.Endpoint.RoutePattern.Parameters.Count > 0)
                    expected.Add("404");
                if (Operation(e)?["parameters"]?.AsArray().Any(p => p?["in"]?.GetValue<string>() == "query") == true)
                    expected.Add("400");

                var responses = Responses(e);
                Assert.That(responses.Select(r => r.Key), Is.SupersetOf(expected), $"{e}: problem responses");
                foreach (var (status, response) in responses.Where(r => r.Key[0] == '4'))
                {
                    Assert.That(response?["content"]?["application/problem+json"]?["schema"], Is.Not.Null, $"{e}: {status} is not application/problem+json");
                    Assert.That(response?["description"]?.GetValue<string>(), Is.Not.Empty, $"{e}: {status} says nothing");
                }
            }
        });
    }

    [Test]
    public void Should_require_the_bearer_key_exactly_where_the_endpoint_needs_it()
    {
        var scheme = _document["components"]?["securitySchemes"]?["apiKey"];
        Assert.Multiple(() =>
        {
            Assert.That(scheme?["type"]?.GetValue<string>(), Is.EqualTo("http"));
            Assert.That(scheme?["scheme"]?.GetValue<string>(), Is.EqualTo("bearer"));
            foreach (var e in _endpoints)
            {
                var schemes = Operation(e)?["security"]?.AsArray().SelectMany(r => r!.AsObject().Select(s => s.Key)).ToList() ?? [];
                Assert.That(schemes, RequiresAuthorization(e.Endpoint) ? Does.Contain("apiKey") : Is.Empty, $"{e}: security");
            }
        });
    }

    [Test]
    public async Task Should_answer_the_described_401_and_403_as_problems()
    {
        // The document promises problem+json for what the authorization middleware answers: hold it to that.
        using var anonymous = App.Client(apiKey: null);
        using var admin = App.Admin();
        using var unauthorized = await anonymous.GetAsync("/v1/queue");
        using var forbidden = await admin.GetAsync("/v1/queue");

        Assert.Multiple(() =>
        {
            Assert.That(unauthorized.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(unauthorized.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(forbidden.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That(forbidden.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        });
    }

    [Test]
    public async Task Should_name_the_properties_as_the_api_writes_them()
    {
        var (userId, user) = await App.CreateUser("described");
        using (user)
        {
            var batchId = await IntakeApplication.SubmitBatch(user);
            var written = new Dictionary<string, (string Path, JsonObject Body)>
            {
                ["user"] = ("/v1/users/{userId}", (await user.GetFromJsonAsync<JsonObject>($"/v1/users/{userId}"))!),
                ["batch"] = ("/v1/batches/{batchId}", (await user.GetFromJsonAsync<JsonObject>($"/v1/batches/{batchId}"))!),
                ["queue"] = ("/v1/queue", (await user.GetFromJsonAsync<JsonObject>("/v1/queue"))!),
            };

            Assert.Multiple(() =>
            {
                foreach (var (what, (path, body)) in written)
                {
                    var schema = Resolve(_document["paths"]?[path]?["get"]?["responses"]?["200"]?["content"]?["application/json"]?["schema"]);
                    Assert.That(schema["properties"]!.AsObject().Select(p => p.Key), Is.EquivalentTo(body.Select(p => p.Key)), $"the {what}'s properties");
                }
            });
        }
    }

    [Test]
    public void Should_list_the_statuses_a_batch_and_a_task_can_have()
    {
        var batch = Resolve(_document["paths"]!["/v1/batches/{batchId}"]!["get"]!["responses"]!["200"]!["content"]!["application/json"]!["schema"]);
        var tasks = Resolve(_document["paths"]!["/v1/batches/{batchId}/tasks"]!["get"]!["responses"]!["200"]!["content"]!["application/json"]!["schema"]);
        var task = Resolve(tasks["properties"]!["items"]!["items"]);

        Assert.Multiple(() =>
        {
            Assert.That(batch["properties"]!["status"]!["enum"]!.AsArray().Select(v => v!.GetValue<string>()), Is.EquivalentTo(BatchStatuses.All));
            Assert.That(task["properties"]!["status"]!["enum"]!.AsArray().Select(v => v!.GetValue<string>()), Is.EquivalentTo(TaskStatuses.All));
        });
    }

    [Test]
    public void Should_show_an_example_batch_request()
    {
        var example = _document["paths"]?["/v1/batches"]?["post"]?["requestBody"]?["content"]?["application/json"]?["example"];

        Assert.Multiple(() =>
        {
            Assert.That(example?["instructions"]?.GetValue<string>(), Does.Contain("{company}"));
            Assert.That(example?["tasks"]?[0]?["input"]?["company"]?.GetValue<string>(), Is.Not.Empty);
        });
    }
}
