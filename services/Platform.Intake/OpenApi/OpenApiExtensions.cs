namespace Platform.Intake.OpenApi;

/// <summary><c>GET /openapi/v1.json</c>: the API described.</summary>
public static class OpenApiExtensions
{
    public const string DocumentName = "v1";
    public const string DocumentRoute = "/openapi/{documentName}.json";

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
        return app;
    }
}
