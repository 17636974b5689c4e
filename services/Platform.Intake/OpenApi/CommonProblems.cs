using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Platform.Intake.OpenApi;

/// <summary>
/// Problems the pipeline answers for every API route, whatever the endpoint: the rate limiter's 429. Added here once
/// rather than on each endpoint, because the middleware applies to all of them.
/// </summary>
internal sealed class CommonProblems : IOpenApiOperationTransformer
{
    public const string ProblemJson = "application/problem+json";

    public async Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (context.Description.RelativePath?.StartsWith("v1/", StringComparison.Ordinal) != true)
            return;

        operation.Responses ??= new OpenApiResponses();
        var tooMany = await Response(context,
            "Over the caller's request rate (`Platform:RateLimit:PermitLimit` requests per `Platform:RateLimit:Window`); " +
            "problem type `https://platform.local/problems/rate-limited`. Try again after `Retry-After` seconds.", cancellationToken);
        tooMany.Headers = new Dictionary<string, IOpenApiHeader>
        {
            ["Retry-After"] = new OpenApiHeader
            {
                Description = "Seconds until the caller's window has room again.",
                Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32" },
            },
        };
        operation.Responses.TryAdd("429", tooMany);

        // Successes first, then the problems by status, whatever order the endpoint and the transformers added them in.
        var sorted = operation.Responses.OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
        operation.Responses.Clear();
        foreach (var (status, response) in sorted)
            operation.Responses.Add(status, response);
    }

    /// <summary>A problem+json response with the ProblemDetails schema.</summary>
    public static async Task<OpenApiResponse> Response(OpenApiOperationTransformerContext context, string description, CancellationToken cancellationToken) =>
        new()
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType>
            {
                [ProblemJson] = new() { Schema = await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), cancellationToken: cancellationToken) },
            },
        };
}
