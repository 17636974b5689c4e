using System.Globalization;
using RabbitMQ.Client;

namespace Platform.ServiceDefaults;

/// <summary>How a service reaches RabbitMQ beyond its connection string: the nodes of a cluster.</summary>
public sealed class RabbitMqOptions
{
    public const string Section = "Platform:RabbitMq";

    /// <summary>
    /// A cluster's nodes, <c>host:port</c> (or <c>host</c>, on the connection string's port), comma-separated. Set, the
    /// bus's first connection goes to the first node and each reconnection to the next one in the list, round robin; the
    /// connection string still gives the user, password and virtual host. Unset, the connection string's host is all.
    /// </summary>
    public string? Nodes { get; set; }

    /// <summary>The nodes' addresses as given, or none when <see cref="Nodes"/> is unset.</summary>
    public IReadOnlyList<string> NodeAddresses =>
        Nodes?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];

    /// <summary>True when every node is a host with an optional port in 1..65535 (MassTransit splits at the one colon).</summary>
    public bool NodesAreValid() => NodeAddresses.All(a => a.Split(':') switch
    {
        [var host] => host.Length > 0,
        [var host, var port] => host.Length > 0 && int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and < 65536,
        _ => false,
    });

    /// <summary>The nodes as RabbitMQ.Client endpoints, for connections the bus does not own.</summary>
    public IReadOnlyList<AmqpTcpEndpoint> Endpoints(int defaultPort) =>
    [
        .. NodeAddresses.Select(a => a.Split(':') is [var host, var port]
            ? new AmqpTcpEndpoint(host, int.Parse(port, CultureInfo.InvariantCulture))
            : new AmqpTcpEndpoint(a, defaultPort)),
    ];
}
