using System.ComponentModel.DataAnnotations;

namespace Platform.Worker.Execution;

public sealed class WorkerOptions
{
    public const string Section = "Platform:Worker";

    /// <summary>Tasks this instance runs at once (its fixed capacity).</summary>
    [Range(1, 1000)]
    public int Capacity { get; set; } = 16;

    /// <summary>Attempts a task gets before a transient failure becomes terminal.</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 3;

    /// <summary>First retry delay; doubles each attempt, with jitter, up to <see cref="RetryMaxDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// On SIGTERM the worker takes no new task and lets running ones finish for up to this long; what is still running
    /// then is abandoned unacknowledged, and RabbitMQ redelivers it to another worker.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromMinutes(1);
}
