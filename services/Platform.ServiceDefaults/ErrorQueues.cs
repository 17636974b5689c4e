using MassTransit;
using Microsoft.Extensions.Hosting;
using RabbitMQ.Client;

namespace Platform.ServiceDefaults;

/// <summary>The receive endpoints this process hosts, collected while MassTransit configures them.</summary>
public sealed class HostedEndpoints
{
    readonly List<string> _names = [];

    public IReadOnlyList<string> Names
    {
        get
        {
            lock (_names)
                return [.. _names];
        }
    }

    public void Add(string name)
    {
        lock (_names)
        {
            if (!_names.Contains(name))
                _names.Add(name);
        }
    }
}

/// <summary>
/// Declares each endpoint's <c>_error</c> exchange and queue at start-up, exactly as MassTransit would on the first
/// fault (durable, quorum), so operators see them in the console from the start and alerts can watch them.
/// </summary>
public sealed class ErrorQueueDeclarer(HostedEndpoints endpoints, Uri rabbit, IReadOnlyList<AmqpTcpEndpoint> clusterNodes, IBusControl bus)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // After the bus: its own topology (endpoint queues) is declared first.
        while (!stoppingToken.IsCancellationRequested
               && await bus.WaitForHealthStatus(BusHealthStatus.Healthy, TimeSpan.FromSeconds(1)) != BusHealthStatus.Healthy)
        {
        }

        var factory = new ConnectionFactory { Uri = rabbit, ClientProvidedName = "platform-error-queues" };
        // On a cluster, whichever node answers (the client tries them in a random order).
        await using var connection = clusterNodes.Count > 0
            ? await factory.CreateConnectionAsync(clusterNodes, stoppingToken)
            : await factory.CreateConnectionAsync(stoppingToken);
        await using var channel = await connection.CreateChannelAsync(cancellationToken: stoppingToken);
        foreach (var name in endpoints.Names)
        {
            var error = name + "_error";
            await channel.ExchangeDeclareAsync(error, ExchangeType.Fanout, durable: true, autoDelete: false, cancellationToken: stoppingToken);
            await channel.QueueDeclareAsync(error, durable: true, exclusive: false, autoDelete: false,
                arguments: new Dictionary<string, object?> { ["x-queue-type"] = "quorum" }, cancellationToken: stoppingToken);
            await channel.QueueBindAsync(error, error, "", cancellationToken: stoppingToken);
        }
    }
}
