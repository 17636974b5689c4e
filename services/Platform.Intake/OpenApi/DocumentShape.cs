using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Platform.Intake.OpenApi;

/// <summary>The document's title, tags and paths as a reader expects them, and the health endpoints (not route handlers, so not found by ApiExplorer).</summary>
internal sealed class DocumentShape : IOpenApiDocumentTransformer
{
    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info.Title = "Platform API";
        document.Info.Description =
            "Batches of slow research tasks, run with the parallelism of each user's tier. Every error is " +
            "`application/problem+json` (RFC 9457) with a machine-readable `type`; validation errors name the field and the limit.";
        document.Tags = new HashSet<OpenApiTag>
        {
            new() { Name = "users", Description = "Users, their tiers and API keys (the admin API; a user may read and rotate their own)." },
            new() { Name = "batches", Description = "Submitting batches of research tasks, their progress and results, cancelling them." },
            new() { Name = "queue", Description = "The caller's work queue: desks, unfinished batches, ETA." },
            new() { Name = "health", Description = "For orchestrators and load balancers; no key needed." },
        };

        // A group's root ("/v1/batches" + "/") routes with or without the slash; document it the way DESIGN.md spells it.
        foreach (var path in document.Paths.Keys.Where(p => p.Length > 1 && p.EndsWith('/')).ToList())
        {
            var item = document.Paths[path];
            document.Paths.Remove(path);
            document.Paths[path.TrimEnd('/')] = item;
        }

        document.Paths["/health/live"] = Health("The process answers.");
        document.Paths["/health/ready"] = Health("PostgreSQL answers and the bus is connected to RabbitMQ; 503 otherwise, with each check's status.");
        return Task.CompletedTask;
    }

    static OpenApiPathItem Health(string description) => new()
    {
        Operations = new Dictionary<HttpMethod, OpenApiOperation>
        {
            [HttpMethod.Get] = new()
            {
                Summary = description.Split(';')[0].TrimEnd('.'),
                Description = description,
                Tags = new HashSet<OpenApiTagReference> { new("health") },
                Responses = new OpenApiResponses
                {
                    ["200"] = new OpenApiResponse { Description = "Healthy.", Content = HealthBody() },
                    ["503"] = new OpenApiResponse { Description = "A check failed; the body says which.", Content = HealthBody() },
                },
            },
        },
    };

    static Dictionary<string, OpenApiMediaType> HealthBody() => new()
    {
        ["application/json"] = new()
        {
            Schema = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Properties = new Dictionary<string, IOpenApiSchema>
                {
                    ["status"] = HealthStatus(),
                    ["checks"] = new OpenApiSchema
                    {
                        Type = JsonSchemaType.Object,
                        Description = "Each check by name.",
                        AdditionalProperties = new OpenApiSchema
                        {
                            Type = JsonSchemaType.Object,
                            Properties = new Dictionary<string, IOpenApiSchema>
                            {
                                ["status"] = HealthStatus(),
                                ["description"] = new OpenApiSchema { Type = JsonSchemaType.String | JsonSchemaType.Null },
                            },
                        },
                    },
                },
            },
        },
    };

    static OpenApiSchema HealthStatus() => new() { Type = JsonSchemaType.String, Enum = ["Healthy", "Degraded", "Unhealthy"] };
}
