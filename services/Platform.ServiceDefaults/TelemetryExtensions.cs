using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Platform.ServiceDefaults;

public static class TelemetryExtensions
{
    /// <summary>
    /// Activity sources whose spans Platform exports. The framework's own sources need no instrumentation package on
    /// .NET 10: ASP.NET Core, HttpClient, Npgsql and MassTransit start their activities from these by name.
    /// </summary>
    public static readonly string[] ActivitySources = ["Microsoft.AspNetCore", "System.Net.Http", "Npgsql", "MassTransit", "Platform.*"];

    /// <summary>
    /// Meters Platform exports: MassTransit's, Platform's own (queued/running per tier, dispatch, durations, retries,
    /// quota), and those .NET and Npgsql publish themselves (requests, connection pool, runtime).
    /// </summary>
    public static readonly string[] Meters = ["MassTransit", "Platform.*", "Microsoft.AspNetCore.Hosting", "Npgsql", "System.Runtime"];

    /// <summary>
    /// OTLP export of traces and metrics, on only when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (honours
    /// <c>OTEL_EXPORTER_OTLP_PROTOCOL</c>, <c>OTEL_EXPORTER_OTLP_HEADERS</c>, <c>OTEL_SERVICE_NAME</c>,
    /// <c>OTEL_METRIC_EXPORT_INTERVAL</c>) from any configuration source. The providers are built here and disposed with
    /// the host (OpenTelemetry.Extensions.Hosting is not in our registry), so buffered spans and metrics are flushed on shutdown.
    /// </summary>
    public static IHostApplicationBuilder AddPlatformTelemetry(this IHostApplicationBuilder builder)
    {
        var otlp = OtlpSettings.From(builder.Configuration);
        if (otlp is null)
            return builder;

        var resource = ResourceBuilder.CreateDefault()
            .AddService(ServiceDefaultsExtensions.ServiceName(builder), serviceInstanceId: $"{Environment.MachineName}:{Environment.ProcessId}")
            .AddAttributes([new("deployment.environment.name", builder.Environment.EnvironmentName)]);

        builder.Services.AddSingleton(_ => ConfigureTracing(Sdk.CreateTracerProviderBuilder())
            .SetResourceBuilder(resource)
            .AddOtlpExporter(o => otlp.Apply(o, "v1/traces"))
            .Build());
        builder.Services.AddSingleton(_ => Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(resource)
            .AddMeter(Meters)
            .AddOtlpExporter((o, reader) =>
            {
                otlp.Apply(o, "v1/metrics");
                if (otlp.MetricInterval is { } interval)
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = interval;
            })
            .Build());

        // Registered before the bus and the relays (AddServiceDefaults comes first), so it starts before them and stops after them.
        builder.Services.Insert(0, ServiceDescriptor.Singleton<IHostedService, TelemetryLifetime>());
        return builder;
    }

    /// <summary>The sources Platform listens to; shared with the tests, which collect the same spans in memory.</summary>
    public static TracerProviderBuilder ConfigureTracing(TracerProviderBuilder tracing) => tracing.AddSource(ActivitySources);

    sealed record OtlpSettings(Uri Endpoint, OtlpExportProtocol Protocol, string? Headers, int? MetricInterval)
    {
        public static OtlpSettings? From(IConfiguration configuration)
        {
            if (configuration["OTEL_EXPORTER_OTLP_ENDPOINT"] is not { Length: > 0 } endpoint)
                return null;

            var protocol = configuration["OTEL_EXPORTER_OTLP_PROTOCOL"] switch
            {
                null or "" or "grpc" => OtlpExportProtocol.Grpc,
                "http/protobuf" => OtlpExportProtocol.HttpProtobuf,
                var other => throw new InvalidOperationException($"OTEL_EXPORTER_OTLP_PROTOCOL '{other}' is not supported: use grpc or http/protobuf."),
            };
            var interval = int.TryParse(configuration["OTEL_METRIC_EXPORT_INTERVAL"], out var ms) && ms > 0 ? ms : (int?)null;
            return new OtlpSettings(new Uri(endpoint), protocol, configuration["OTEL_EXPORTER_OTLP_HEADERS"], interval);
        }

        // Like the SDK does for the environment variable: over HTTP each signal has its own path under the endpoint
        // (an endpoint set in code is taken as is, so the path is added here).
        public void Apply(OtlpExporterOptions options, string signalPath)
        {
            options.Protocol = Protocol;
            options.Endpoint = Protocol == OtlpExportProtocol.HttpProtobuf
                ? new Uri(Endpoint.AbsoluteUri.TrimEnd('/') + "/" + signalPath)
                : Endpoint;
            if (Headers is not null)
                options.Headers = Headers;
        }
    }

    // Resolving the providers at start makes them listen before the first request or message. On stop (this service
    // stops last) pending spans are flushed; the container disposes the providers, which exports what is left.
    sealed class TelemetryLifetime(TracerProvider tracer, MeterProvider meter) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            GC.KeepAlive(tracer);
            GC.KeepAlive(meter);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken)
        {
            tracer.ForceFlush(5000);
            meter.ForceFlush(5000);
            return Task.CompletedTask;
        }
    }
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
