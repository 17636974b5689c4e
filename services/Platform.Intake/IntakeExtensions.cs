using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;
using Platform.Data;
using Platform.Intake.Auth;
using Platform.Intake.Consumers;
using Platform.Intake.Endpoints;
using Platform.Intake.OpenApi;
using Platform.Intake.RateLimiting;
using Platform.Intake.ProviderKeys;
using Platform.Intake.Streams;
using Platform.Intake.Submission;
using Platform.Secrets;
using Platform.ServiceDefaults;

namespace Platform.Intake;

public static class IntakeExtensions
{
    public const string AdminPolicy = "admin";
    public const string UserPolicy = "user";

    public static IHostApplicationBuilder AddIntake(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<IntakeOptions>().BindConfiguration(IntakeOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddOptions<FleetOptions>().BindConfiguration(FleetOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<BudgetOptions>().BindConfiguration(BudgetOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<BatchRequestValidator>();
        builder.Services.AddScoped<BatchSubmission>();
        builder.Services.AddOutboxRelay();
        builder.Services.AddIntakeOpenApi();
        builder.AddCallerRateLimit();

        // Event streams: this instance's wake-ups from the bus, and the streams they wake (docs/api.md, "Event streams").
        builder.Services.AddOptions<StreamOptions>().BindConfiguration(StreamOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<StreamSignals>();

        // Users' own provider keys: checked against the provider, then stored protected (docs/secrets.md).
        builder.AddPlatformSecrets();
        builder.Services.AddOptions<ProviderKeyOptions>().BindConfiguration(ProviderKeyOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddHttpClient(ProviderKeyCheck.ClientName);
        builder.Services.AddSingleton<ProviderKeyCheck>();

        builder.Services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(AdminPolicy, p => p.RequireRole(ApiKeyAuthenticationHandler.AdminRole))
            .AddPolicy(UserPolicy, p => p.RequireClaim(System.Security.Claims.ClaimTypes.NameIdentifier));

        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = NameTheBodyLimit);
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.CamelCase;
        });
        // Minimal APIs answer a body that is not JSON with a bare 400 unless told to throw, and only Development throws by
        // default. Throwing hands it to WriteRequestProblem, which says what is wrong with the body.
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        builder.Services.AddOptions<Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions>().Configure<IOptions<IntakeOptions>>((kestrel, intake) =>
            kestrel.Limits.MaxRequestBodySize = intake.Value.MaxRequestBodyBytes);

        builder.AddPlatformBus(x =>
        {
            x.AddConsumer<SubmitBatchConsumer>(typeof(SubmitBatchConsumerDefinition));
            x.AddConsumer<CancelBatchConsumer>(typeof(CancelBatchConsumerDefinition));
            x.AddConsumer<StreamWakeConsumer>(typeof(StreamWakeConsumerDefinition));
        });
        return builder;
    }

    public static WebApplication MapIntake(this WebApplication app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            ExceptionHandler = WriteRequestProblem,
            // A client's unreadable request is answered, not an error of ours: keep it out of the error log.
            SuppressDiagnosticsCallback = c => c.Exception is BadHttpRequestException,
        });
        app.UseStatusCodePages();
        app.UseAuthentication();
        // After authentication: the limiter partitions by the caller it established.
        app.UseRateLimiter();
        app.UseAuthorization();
        app.MapUserEndpoints();
        app.MapProviderKeyEndpoints();
        app.MapBatchEndpoints();
        app.MapQueueEndpoints();
        app.MapStreamEndpoints();
        app.MapResultsEndpoints();
        app.MapFleetEndpoints();
        app.MapIntakeOpenApi();
        return app;
    }

    // Oversized and malformed bodies surface as BadHttpRequestException: answer them as problems that say what to fix.
    static async Task WriteRequestProblem(HttpContext context)
    {
        var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
        var limit = context.RequestServices.GetRequiredService<IOptions<IntakeOptions>>().Value.MaxRequestBodyBytes;
        (int status, string field, string message) = error switch
        {
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } =>
                (StatusCodes.Status413PayloadTooLarge, "body", BodyTooLarge(limit)),
            BadHttpRequestException bad => BadRequests.Describe(bad),
            _ => (StatusCodes.Status500InternalServerError, "", "an unexpected error occurred; it has been logged"),
        };

        var problem = status == StatusCodes.Status500InternalServerError
            ? Results.Problem(title: "Internal error", detail: message, statusCode: status)
            : Results.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, detail: message, statusCode: status,
                type: "https://platform.local/problems/" + (status == 413 ? "too-large" : field == "body" ? "bad-request" : "validation"));
        await problem.ExecuteAsync(context);
    }

    // Kestrel refuses an oversized body while the endpoint reads it, and minimal APIs answer that 413 themselves, even
    // with ThrowOnBadRequest: no exception reaches WriteRequestProblem. Give that answer the same type and errors map.
    static void NameTheBodyLimit(ProblemDetailsContext context)
    {
        if (context.ProblemDetails.Status != StatusCodes.Status413PayloadTooLarge || context.ProblemDetails is HttpValidationProblemDetails)
            return;

        var message = BodyTooLarge(context.HttpContext.RequestServices.GetRequiredService<IOptions<IntakeOptions>>().Value.MaxRequestBodyBytes);
        context.ProblemDetails.Type = "https://platform.local/problems/too-large";
        context.ProblemDetails.Detail = message;
        context.ProblemDetails.Extensions["errors"] = new Dictionary<string, string[]> { ["body"] = [message] };
    }

    static string BodyTooLarge(long limit) => $"request body must be at most {limit} bytes";
}
