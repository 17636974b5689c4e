using System.Diagnostics;
using MassTransit;
using MassTransit.RabbitMqTransport.Configuration;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Platform.Data;
using Platform.Data.Tiers;

namespace Platform.ServiceDefaults;

public static class ServiceDefaultsExtensions
{
    public const string RabbitMqConnectionStringName = "RabbitMq";
    const string ReadyTag = "ready";

    /// <summary>Configuration, tiers, database, health and telemetry: what every Platform service has.</summary>
    public static IHostApplicationBuilder AddServiceDefaults(this IHostApplicationBuilder builder)
    {
        // Tier defaults ship as a file beside the service, beneath every other source so environment variables win.
        var tiers = new ConfigurationBuilder().AddJsonFile(Path.Combine(AppContext.BaseDirectory, "tiers.json"), optional: false).Build();
        builder.Configuration.Sources.Insert(0, new ChainedConfigurationSource { Configuration = tiers, ShouldDisposeConfiguration = true });

        builder.Services.AddOptions<TierOptions>().BindConfiguration(TierOptions.Section)
            .Validate(o => o.Tiers.Count > 0, "Platform:Tiers must define at least one tier")
            .ValidateOnStart();

        builder.Services.AddPlatformData(RequiredConnectionString(builder.Configuration, DataExtensions.ConnectionStringName));

        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy())
            .AddCheck<PostgresHealthCheck>("postgresql", tags: [ReadyTag]);

        builder.AddPlatformTelemetry();
        return builder;
    }

    /// <summary>MassTransit on RabbitMQ: kebab-case endpoints on durable quorum queues, each with its <c>_error</c> queue.</summary>
    public static IHostApplicationBuilder AddPlatformBus(this IHostApplicationBuilder builder, Action<IBusRegistrationConfigurator> configure)
    {
        var rabbit = new Uri(RequiredConnectionString(builder.Configuration, RabbitMqConnectionStringName));
        var endpoints = new HostedEndpoints();
        var connectionName = $"{ServiceName(builder)} {Environment.MachineName}:{Environment.ProcessId}";
        builder.Services.AddSingleton(endpoints);
        builder.Services.AddOptions<RabbitMqOptions>().BindConfiguration(RabbitMqOptions.Section)
            .Validate(o => o.NodesAreValid(), "Platform:RabbitMq:Nodes must be host:port (or host) entries separated by commas, each port in 1..65535")
            .ValidateOnStart();
        builder.Services.AddHostedService(sp => new ErrorQueueDeclarer(endpoints, rabbit,
            sp.GetRequiredService<IOptions<RabbitMqOptions>>().Value.Endpoints(AmqpPort(rabbit)), sp.GetRequiredService<IBusControl>()));

        builder.Services.AddMassTransit(x =>
        {
            // Otherwise every process reports its bus's shape to MassTransit's servers a few minutes after start: nothing may call out.
            x.DisableUsageTelemetry();
            x.SetKebabCaseEndpointNameFormatter();
            configure(x);

            x.AddConfigureEndpointsCallback((_, name, endpoint) =>
            {
                // A temporary endpoint (one instance's own queue, see ServiceInstance) lives and dies with its process:
                // it is not durable, so it cannot be a quorum queue, and a durable error queue per process would outlive it.
                if (endpoint is IRabbitMqReceiveEndpointConfiguration { Settings.Durable: false })
                    return;

                endpoints.Add(name);
                // Quorum queues survive a broker node's loss and are what a RabbitMQ cluster replicates.
                if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbitEndpoint)
                    rabbitEndpoint.SetQuorumQueue();
            });

            x.UsingRabbitMq((context, cfg) =>
            {
                var credentials = Uri.UnescapeDataString(rabbit.UserInfo).Split(':', 2);
                var virtualHost = rabbit.AbsolutePath.Trim('/') is { Length: > 0 } path ? Uri.UnescapeDataString(path) : "/";
                var nodes = context.GetRequiredService<IOptions<RabbitMqOptions>>().Value.NodeAddresses;
                cfg.Host(rabbit.Host, (ushort)AmqpPort(rabbit), virtualHost, h =>
                {
                    // A cluster: one connection, to the first node; when its node goes, MassTransit reconnects to the
                    // next in the list, round robin (the quorum queues' other replicas carry on with the messages).
                    if (nodes.Count > 0)
                    {
                        h.UseCluster(c =>
                        {
                            foreach (var node in nodes)
                                c.Node(node);
                        });
                    }

                    // The console's Connections tab then says which service (and which instance) each connection is.
                    h.ConnectionName(connectionName);
                    if (credentials.Length == 2)
                    {
                        h.Username(credentials[0]);
                        h.Password(credentials[1]);
                    }
                });
                cfg.UseConsumeFilter(typeof(MessageScopeFilter<>), context);
                cfg.ConfigureEndpoints(context);
            });
        });

        builder.Services.Configure<MassTransitHostOptions>(o =>
        {
            o.WaitUntilStarted = true;
            o.StopTimeout = TimeSpan.FromSeconds(30);
        });
        return builder;
    }

    /// <summary>
    /// <c>/health/live</c>: the process answers. <c>/health/ready</c>: PostgreSQL answers and the bus is connected to
    /// RabbitMQ (MassTransit's own check carries the same <c>ready</c> tag); 503 otherwise, with each check's status.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = r => r.Name == "self", ResponseWriter = WriteHealth });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = r => r.Tags.Contains(ReadyTag), ResponseWriter = WriteHealth });
        return app;
    }

    /// <summary>The name a service goes by in traces, metrics and the broker's console: <c>OTEL_SERVICE_NAME</c>, else the application's name.</summary>
    public static string ServiceName(IHostApplicationBuilder builder) =>
        builder.Configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } name ? name : builder.Environment.ApplicationName;

    // Which check failed, and why, without exception details (they may name hosts and users).
    static Task WriteHealth(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsJsonAsync(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), e.Value.Description }),
        });
    }

    static int AmqpPort(Uri rabbit) => rabbit.IsDefaultPort ? 5672 : rabbit.Port;

    static string RequiredConnectionString(IConfiguration configuration, string name) =>
        configuration.GetConnectionString(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"ConnectionStrings:{name} is not configured. Set ConnectionStrings__{name} (infra/local.sh env prints the local values).");
}

/// <summary>Ready when PostgreSQL answers a query within the check's timeout.</summary>
public sealed class PostgresHealthCheck(Npgsql.NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            await using var command = dataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(timeout.Token);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex)
        {
            return HealthCheckResult.Unhealthy("PostgreSQL is unreachable", ex);
        }
    }
}
