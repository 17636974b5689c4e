using MassTransit;
using MassTransit.NewIdFormatters;

namespace Platform.ServiceDefaults;

/// <summary>This process among the instances of its service: names the endpoints that only this instance consumes.</summary>
public static class ServiceInstance
{
    /// <summary>Unique per process, and short enough to read in the RabbitMQ console.</summary>
    public static string Id { get; } = NewId.Next().ToString(ZBase32Formatter.LowerCase);
}
