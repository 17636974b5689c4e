using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;

namespace Platform.Intake.OpenApi;

/// <summary>What one response of an endpoint means, and optionally an example of its body.</summary>
public sealed record ResponseDoc(int StatusCode, string Description, object? Example);

/// <summary>An example request body of an endpoint.</summary>
public sealed record RequestExample(object Example);

/// <summary>
/// Describes responses next to the endpoint that answers them. The status and schema go into the standard
/// <c>Produces</c> metadata (what ApiExplorer reads); the meaning and example ride along as <see cref="ResponseDoc"/>.
/// </summary>
public static class EndpointDocs
{
    public static RouteHandlerBuilder Answers<T>(this RouteHandlerBuilder builder, int statusCode, string description, T? example = default) =>
        builder.Produces<T>(statusCode).WithMetadata(new ResponseDoc(statusCode, description, example));

    public static RouteHandlerBuilder AnswersNoContent(this RouteHandlerBuilder builder, string description) =>
        builder.Produces(StatusCodes.Status204NoContent).WithMetadata(new ResponseDoc(StatusCodes.Status204NoContent, description, null));

    /// <summary>A problem whose body is plain ProblemDetails.</summary>
    public static RouteHandlerBuilder Problem(this RouteHandlerBuilder builder, int statusCode, string description, object? example = null) =>
        builder.ProducesProblem(statusCode).WithMetadata(new ResponseDoc(statusCode, description, example));

    /// <summary>A problem with an <c>errors</c> map of field → messages (validation, size limits, quota).</summary>
    public static RouteHandlerBuilder FieldProblem(this RouteHandlerBuilder builder, int statusCode, string description, object? example = null) =>
        builder.ProducesValidationProblem(statusCode).WithMetadata(new ResponseDoc(statusCode, description, example));

    /// <summary>400 for a body that is not JSON and 413 for one over the size limit: every endpoint that reads a body answers both.</summary>
    public static RouteHandlerBuilder ReadsJsonBody(this RouteHandlerBuilder builder, object example) =>
        builder.WithMetadata(new RequestExample(example))
            .FieldProblem(StatusCodes.Status413PayloadTooLarge,
                "The body is larger than `Platform:MaxRequestBodyBytes` (problem type `https://platform.local/problems/too-large`).",
                ProblemExample("too-large", 413, "One or more validation errors occurred.", "body", "request body must be at most 67108864 bytes"));

    /// <summary>An example problem body as the API writes it: the message is both the <c>detail</c> and the field's error.</summary>
    public static Dictionary<string, object> ProblemExample(string type, int status, string title, string field, string message,
        params (string Name, object Value)[] extensions)
    {
        var problem = new Dictionary<string, object>
        {
            ["type"] = "https://platform.local/problems/" + type,
            ["title"] = title,
            ["status"] = status,
            ["detail"] = message,
        };
        foreach (var (name, value) in extensions)
            problem[name] = value;
        problem["errors"] = new Dictionary<string, string[]> { [field] = [message] };
        return problem;
    }
}

/// <summary>Puts each <see cref="ResponseDoc"/>'s description and example, and the <see cref="RequestExample"/>, into the operation.</summary>
internal sealed class Examples(IOptions<JsonOptions> json) : IOpenApiOperationTransformer
{
    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        foreach (var doc in metadata.OfType<ResponseDoc>())
        {
            if (operation.Responses?.TryGetValue(doc.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture), out var r) != true
                || r is not OpenApiResponse response)
                continue;
            response.Description = doc.Description;
            if (doc.Example is not null && response.Content is { Count: > 0 } content)
            {
                foreach (var media in content.Values)
                    media.Example = ToNode(doc.Example);
            }
        }

        if (metadata.OfType<RequestExample>().LastOrDefault() is { } request && operation.RequestBody?.Content is { } bodies)
        {
            foreach (var media in bodies.Values)
                media.Example = ToNode(request.Example);
        }
        return Task.CompletedTask;
    }

    // The app's own serializer options, so an example is spelled exactly as the API writes and reads JSON.
    JsonNode? ToNode(object example) => JsonSerializer.SerializeToNode(example, example.GetType(), json.Value.SerializerOptions);
}
