using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Platform.Samples.Submitter;

public static class SubmitterExtensions
{
    public const string RabbitMqConnectionStringName = "RabbitMq";

    /// <summary>Options, the bus (a queue of its own for the batch events) and the submitter.</summary>
    public static IHostApplicationBuilder AddSubmitter(this IHostApplicationBuilder builder)
    {
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss ";
        });

        builder.Services.AddOptions<SubmitterOptions>().BindConfiguration(SubmitterOptions.Section)
            .Validate(o => !string.IsNullOrWhiteSpace(o.UserId), "Submitter:UserId is required: the platform user the batch belongs to")
            .Validate(o => o.TaskCount >= 1, "Submitter:TaskCount must be at least 1")
            .Validate(o => o.SimulateDurationMs is null or >= 0, "Submitter:SimulateDurationMs must be 0 or more")
            .Validate(o => o.Timeout > TimeSpan.Zero, "Submitter:Timeout must be positive")
            .ValidateOnStart();

        builder.Services.AddSingleton<BatchWatch>();
        builder.Services.AddSingleton<Submitter>();

        var rabbit = builder.Configuration.GetConnectionString(RabbitMqConnectionStringName) is { Length: > 0 } value
            ? new Uri(value)
            : throw new InvalidOperationException(
                $"ConnectionStrings:{RabbitMqConnectionStringName} is not configured: set ConnectionStrings__{RabbitMqConnectionStringName}=amqp://user:password@host:port/vhost");

        builder.Services.AddMassTransit(x =>
        {
            // MassTransit would otherwise report usage to its authors at start-up; nothing here calls out.
            x.DisableUsageTelemetry();
            x.SetKebabCaseEndpointNameFormatter();
            x.AddConsumer<BatchEventsConsumer, BatchEventsConsumerDefinition>();

            x.UsingRabbitMq((context, cfg) =>
            {
                var credentials = Uri.UnescapeDataString(rabbit.UserInfo).Split(':', 2);
                var virtualHost = rabbit.AbsolutePath.Trim('/') is { Length: > 0 } path ? Uri.UnescapeDataString(path) : "/";
                cfg.Host(rabbit.Host, (ushort)(rabbit.IsDefaultPort ? 5672 : rabbit.Port), virtualHost, h =>
                {
                    h.ConnectionName($"{builder.Environment.ApplicationName} {Environment.MachineName}:{Environment.ProcessId}");
                    if (credentials.Length == 2)
                    {
                        h.Username(credentials[0]);
                        h.Password(credentials[1]);
                    }
                });
                cfg.ConfigureEndpoints(context);
            });
        });

        // The queue and its bindings exist before the host has started, so no answer can be published before we listen.
        builder.Services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true);
        return builder;
    }
}
