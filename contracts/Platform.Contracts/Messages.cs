namespace Platform.Contracts;

// The namespace and record names are the messages' identity on the bus (urn:message:Platform.Contracts:Name).
// Never rename or move them casually: a running producer and consumer must agree.

/// <summary>One task of a batch as submitted: a key unique in the batch, and the fields that fill the instructions.</summary>
public sealed record TaskSpec(string Key, IReadOnlyDictionary<string, object?> Input);

/// <summary>Submit a batch over the bus. <see cref="BatchId"/> is chosen by the sender and makes resubmission idempotent.</summary>
public sealed record SubmitBatch(
    Guid BatchId,
    string UserId,
    string Name,
    string Instructions,
    IReadOnlyList<TaskSpec> Tasks,
    DateTimeOffset Timestamp);

/// <summary>Answer to a <see cref="SubmitBatch"/> that intake refused (validation or quota); nothing was stored.</summary>
public sealed record BatchRejected(
    Guid BatchId,
    string UserId,
    string Reason,
    IReadOnlyDictionary<string, string[]> Errors,
    DateTimeOffset Timestamp);

public sealed record BatchSubmitted(Guid BatchId, string UserId, string Name, int Total, DateTimeOffset Timestamp);

public sealed record TaskQueued(Guid TaskId, Guid BatchId, string UserId, string Key, int Attempt, DateTimeOffset Timestamp);

/// <summary>
/// Command to a worker: run this task, which holds <see cref="Slot"/> of its user's slots. <see cref="LeaseId"/> names
/// this delivery: the worker runs the task that carries the lease, and when the task ends it may refill the slot with
/// the user's next task under the same lease, so a slot's tasks run back to back without a trip through the broker.
/// Until the delivery is acknowledged, a worker that dies hands the lease back: RabbitMQ redelivers it, and the
/// receiver takes over the running task that carries it.
/// </summary>
public sealed record ExecuteTask(
    Guid TaskId,
    Guid BatchId,
    string UserId,
    string Tier,
    int Slot,
    int Attempt,
    Guid LeaseId,
    DateTimeOffset Timestamp);

public sealed record TaskStarted(Guid TaskId, Guid BatchId, string UserId, int Slot, int Attempt, DateTimeOffset Timestamp);

public sealed record TaskCompleted(Guid TaskId, Guid BatchId, string UserId, int Slot, DateTimeOffset StartedAt, DateTimeOffset Timestamp);

/// <summary>A task ended failed (terminal). Retries are decided before this is published.</summary>
public sealed record TaskFailed(Guid TaskId, Guid BatchId, string UserId, int? Slot, string Error, int Attempts, DateTimeOffset Timestamp);

public sealed record TaskCancelled(Guid TaskId, Guid BatchId, string UserId, int? Slot, DateTimeOffset Timestamp);

/// <summary>
/// Cancel a batch over the bus, with the same effect as <c>DELETE /v1/batches/{batchId}</c>. <see cref="UserId"/> must
/// own the batch; a command for an unknown batch, another user's or a finished one changes nothing, and so does a repeat.
/// </summary>
public sealed record CancelBatch(Guid BatchId, string UserId, DateTimeOffset Timestamp);

/// <summary>
/// A batch's cancellation was committed: every worker instance hears it (each on its own queue) and stops the tasks of
/// the batch it is running. A notification only: the batch row is the truth, and the orchestrator ends whatever a lost
/// notification leaves running.
/// </summary>
public sealed record BatchCancellationRequested(Guid BatchId, string UserId, DateTimeOffset Timestamp);

public sealed record BatchProgressed(
    Guid BatchId,
    string UserId,
    string Status,
    int Total,
    int Completed,
    int Failed,
    int Cancelled,
    DateTimeOffset Timestamp);

public sealed record BatchFinished(
    Guid BatchId,
    string UserId,
    string Status,
    int Total,
    int Completed,
    int Failed,
    int Cancelled,
    DateTimeOffset Timestamp);

public sealed record UserTierChanged(string UserId, string Tier, bool OwnProviderKey, DateTimeOffset Timestamp);

/// <summary>A task failed transiently and is queued again, not before <see cref="NotBefore"/>; its slot is free meanwhile.</summary>
public sealed record TaskRetrying(Guid TaskId, Guid BatchId, string UserId, int Attempts, DateTimeOffset NotBefore, string Error, DateTimeOffset Timestamp);
