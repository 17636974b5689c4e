using System.ComponentModel.DataAnnotations;

namespace Platform.Worker.Execution;

public sealed class WorkerOptions
{
    public const string Section = "Platform:Worker";

    /// <summary>Tasks this instance runs at once (its fixed capacity).</summary>
    [Range(1, 1000)]
    public int Capacity { get; set; } = 16;

    /// <summary>How often the worker tells the fleet registry it is alive (see <c>FleetMembership</c>).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Attempts a task gets before a transient failure becomes terminal.</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 3;

    /// <summary>First retry delay; doubles each attempt, with jitter, up to <see cref="RetryMaxDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long one ExecuteTask delivery keeps refilling its slot with the user's next task (see <c>TaskRunner</c>). A
    /// delivery is acknowledged when its last task ends, so keep this plus the longest task below RabbitMQ's
    /// <c>consumer_timeout</c> (1 h in infra/local.sh and docker-compose.yml); after it the slot's next task gets an
    /// ExecuteTask of its own.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan MaxLeaseHold { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// How long the worker gathers the ends of a batch's tasks into one <c>BatchTasksEnded</c> after it sent one (see
    /// <c>BatchEndNotices</c>): the batch's progress moves at most this often per worker, and a quiet batch's first end is
    /// told at once.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:10")]
    public TimeSpan EndNoticeWindow { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// On SIGTERM the worker takes no new task and lets running ones finish for up to this long; what is still running
    /// then is abandoned unacknowledged, and RabbitMQ redelivers it to another worker.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromMinutes(1);
}
