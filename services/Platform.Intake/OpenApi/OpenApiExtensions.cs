using Scalar.AspNetCore;

namespace Platform.Intake.OpenApi;

/// <summary><c>GET /openapi/v1.json</c> (the API described) and <c>GET /docs</c> (its reference page).</summary>
public static class OpenApiExtensions
{
    public const string DocumentName = "v1";
    public const string DocumentRoute = "/openapi/{documentName}.json";
    public const string ReferencePath = "/docs";

    public static IServiceCollection AddIntakeOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(DocumentName, o =>
        {
            o.AddDocumentTransformer<DocumentShape>();
            o.AddDocumentTransformer<BearerSecurity>();
            o.AddOperationTransformer<BearerSecurity>();
            o.AddOperationTransformer<CommonProblems>();
            o.AddOperationTransformer<Examples>();
            o.AddSchemaTransformer<EnumLikeStrings>();
            o.AddSchemaTransformer<WireTypes>();
        });

    public static WebApplication MapIntakeOpenApi(this WebApplication app)
    {
        app.MapOpenApi(DocumentRoute);
        // Everything the page needs comes from the intake itself: the script is embedded in the package (no CdnUrl), and
        // fonts, telemetry, the AI agent and MCP (all of which would call Scalar's servers) are off.
        app.MapScalarApiReference(ReferencePath, o => o
            .WithTitle("Platform API")
            .WithOpenApiRoutePattern(DocumentRoute)
            .AddDocument(DocumentName)
            .DisableDefaultFonts()
            .DisableTelemetry()
            .DisableAgent()
            .DisableMcp()
            .HideClientButton()
            .HideDeveloperTools()
            .AddPreferredSecuritySchemes(BearerSecurity.SchemeName));
        return app;
    }
}
