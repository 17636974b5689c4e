using System.ComponentModel.DataAnnotations;

namespace Platform.Intake.Streams;

/// <summary><c>Platform:Streams</c>: the event streams' heartbeat, their slow-client limit and how often they read the database.</summary>
public sealed class StreamOptions
{
    public const string Section = "Platform:Streams";

    /// <summary>A <c>: keep-alive</c> comment after this long without an event, so proxies and clients see a live connection.</summary>
    [Range(1, 3600)]
    public int HeartbeatSeconds { get; set; } = 15;

    /// <summary>A client whose socket accepts nothing for this long (or whose buffer of events is full that long) is dropped.</summary>
    [Range(1, 3600)]
    public int SendTimeoutSeconds { get; set; } = 30;

    /// <summary>Events buffered per connection between the database reads and the socket; the bound on a connection's memory.</summary>
    [Range(1, 100_000)]
    public int BufferedEvents { get; set; } = 256;

    /// <summary>Shortest time between two reads of one stream: wake-ups in between are coalesced into the next read.</summary>
    [Range(10, 60_000)]
    public int MinReadIntervalMs { get; set; } = 250;

    /// <summary>A stream reads again after this long even without a wake-up: what repairs a lost notification.</summary>
    [Range(1, 3600)]
    public int PollSeconds { get; set; } = 5;

    /// <summary>Task events read per database round trip.</summary>
    [Range(1, 10_000)]
    public int PageSize { get; set; } = 500;

    public TimeSpan Heartbeat => TimeSpan.FromSeconds(HeartbeatSeconds);
    public TimeSpan SendTimeout => TimeSpan.FromSeconds(SendTimeoutSeconds);
    public TimeSpan MinReadInterval => TimeSpan.FromMilliseconds(MinReadIntervalMs);
    public TimeSpan Poll => TimeSpan.FromSeconds(PollSeconds);
}
