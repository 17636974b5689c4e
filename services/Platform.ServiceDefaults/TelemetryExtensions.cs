using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Platform.ServiceDefaults;

public static class TelemetryExtensions
{
    /// <summary>
    /// Activity sources whose spans Platform exports besides ASP.NET Core's (its instrumentation names and filters those):
    /// HttpClient, Npgsql and MassTransit start their activities from these by name on .NET 10.
    /// </summary>
    public static readonly string[] ActivitySources = ["System.Net.Http", "Npgsql", "MassTransit", "Platform.*"];

    /// <summary>
    /// Meters Platform exports: MassTransit's, Platform's own (queued/running per tier, dispatch, durations, retries,
    /// quota), and those .NET and Npgsql publish themselves (requests, connection pool, runtime).
    /// </summary>
    public static readonly string[] Meters = ["MassTransit", "Platform.*", "Microsoft.AspNetCore.Hosting", "Npgsql", "System.Runtime"];

    /// <summary>
    /// OTLP export of traces and metrics, on only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set: without it no provider
    /// exists at all. The exporter reads the standard <c>OTEL_*</c> settings (protocol, headers, metric interval) from
    /// any configuration source; the hosting package flushes what is buffered when the host stops.
    /// </summary>
    public static IHostApplicationBuilder AddPlatformTelemetry(this IHostApplicationBuilder builder)
    {
        if (builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"] is not { Length: > 0 })
            return builder;
        // The SDK falls back to gRPC on a value it does not know, which then fails against an HTTP collector without a word.
        if (builder.Configuration["OTEL_EXPORTER_OTLP_PROTOCOL"] is { Length: > 0 } protocol && protocol is not ("grpc" or "http/protobuf"))
            throw new InvalidOperationException($"OTEL_EXPORTER_OTLP_PROTOCOL '{protocol}' is not supported: use grpc or http/protobuf.");

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r
                .AddService(ServiceDefaultsExtensions.ServiceName(builder), serviceInstanceId: $"{Environment.MachineName}:{Environment.ProcessId}")
                .AddAttributes([new("deployment.environment.name", builder.Environment.EnvironmentName)]))
            .WithTracing(t => ConfigureTracing(t).AddOtlpExporter())
            .WithMetrics(m => m.AddMeter(Meters).AddOtlpExporter());
        return builder;
    }

    /// <summary>What Platform traces; shared with the tests, which collect the same spans in memory.</summary>
    public static TracerProviderBuilder ConfigureTracing(TracerProviderBuilder tracing) => tracing
        .AddSource(ActivitySources)
        // Probes every few seconds would bury the requests people look for in Jaeger.
        .AddAspNetCoreInstrumentation(o => o.Filter = context => !context.Request.Path.StartsWithSegments("/health"));
}

/// <summary>
/// Attribute names Platform puts on its spans (and on MassTransit's consume spans), so a batch, a task or a user can be
/// searched for in Jaeger. Ids only: never an API key, a task's input or a result.
/// </summary>
public static class PlatformTags
{
    public const string UserId = "platform.user.id";
    public const string BatchId = "platform.batch.id";
    public const string TaskId = "platform.task.id";
    public const string Tier = "platform.tier";
    public const string Slot = "platform.slot";
    public const string Attempt = "platform.attempt";

    public static Activity? Tag(this Activity? activity, string? userId, Guid? batchId = null, Guid? taskId = null, string? tier = null,
        int? slot = null, int? attempt = null)
    {
        if (activity is null || !activity.IsAllDataRequested)
            return activity;
        if (userId is not null)
            activity.SetTag(UserId, userId);
        if (batchId is { } batch)
            activity.SetTag(BatchId, batch.ToString());
        if (taskId is { } task)
            activity.SetTag(TaskId, task.ToString());
        if (tier is not null)
            activity.SetTag(Tier, tier);
        if (slot is { } s)
            activity.SetTag(Slot, s);
        if (attempt is { } a)
            activity.SetTag(Attempt, a);
        return activity;
    }
}
