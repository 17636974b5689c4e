using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Platform.Intake.OpenApi;

/// <summary>
/// The API key as an HTTP bearer scheme, required by exactly the operations whose endpoint requires authorization, with
/// the 401 (and, where a policy names who may call, the 403) that the authorization middleware answers for them.
/// Read from the endpoints' own metadata, so the document cannot drift from what the middleware enforces.
/// </summary>
internal sealed class BearerSecurity : IOpenApiDocumentTransformer, IOpenApiOperationTransformer
{
    public const string SchemeName = "apiKey";

    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[SchemeName] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = "API key",
            Description = "`Authorization: Bearer <api key>`. The admin key comes from configuration (`Platform__AdminApiKey`); " +
                "a user's key is shown once, when the admin creates the user or when the key is rotated. A browser may instead sign in " +
                "with `POST /v1/session` and send the `platform_session` cookie it gets (docs/office.md).",
        };
        return Task.CompletedTask;
    }

    public async Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        if (!RequiresAuthorization(metadata))
            return;

        operation.Security ??= [];
        operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(SchemeName, context.Document)] = [] });

        operation.Responses ??= new OpenApiResponses();
        operation.Responses.TryAdd("401", await CommonProblems.Response(context,
            "No `Authorization: Bearer` header (nor session cookie), or a key that is unknown (a rotated key, and the sessions made from it, at once).", cancellationToken));

        if (metadata.OfType<IAuthorizeData>().Select(a => a.Policy).FirstOrDefault(p => p is not null) is { } policy)
        {
            var who = policy == IntakeExtensions.AdminPolicy ? "Only the admin key may call this." : "Only a user's key may call this (not the admin key).";
            operation.Responses.TryAdd("403", await CommonProblems.Response(context, who, cancellationToken));
        }
    }

    /// <summary>What the authorization middleware enforces: any authorize data, unless the endpoint allows anonymous callers.</summary>
    public static bool RequiresAuthorization(IEnumerable<object> endpointMetadata)
    {
        var metadata = endpointMetadata as IReadOnlyCollection<object> ?? endpointMetadata.ToList();
        return metadata.OfType<IAuthorizeData>().Any() && !metadata.OfType<IAllowAnonymous>().Any();
    }
}
