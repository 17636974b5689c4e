namespace Platform.Contracts;

// The namespace and record names are the messages' identity on the bus (urn:message:Platform.Contracts:Name).
// Never rename or move them casually: a running producer and consumer must agree.

/// <summary>One task of a batch as submitted: a key unique in the batch, and the fields that fill the instructions.</summary>
/// <param name="Key">Unique within the batch (at most 200 characters); how the caller recognises the task's result.</param>
/// <param name="Input">The fields that fill the batch's instructions' placeholders (<c>{company}</c> needs a <c>company</c>
/// field). An optional <c>simulate</c> object (<c>{durationMs, fail, failTimes}</c>) runs the task on the simulated executor.</param>
public sealed record TaskSpec(string Key, IReadOnlyDictionary<string, object?> Input);

/// <summary>
/// Submit a batch over the bus, with the same validation and quota as <c>POST /v1/batches</c>. Intake answers with
/// <see cref="BatchSubmitted"/> or <see cref="BatchRejected"/> (published; also sent as the response to a request).
/// </summary>
/// <param name="BatchId">Chosen by the sender; it makes a resent or redelivered command a no-op.</param>
/// <param name="UserId">The user the batch belongs to and whose tier and quota it uses; the user must exist.</param>
/// <param name="Name">A name for people to recognise the batch by.</param>
/// <param name="Instructions">The template every task runs, such as <c>Research {company}: founding year, HQ</c>.</param>
/// <param name="Tasks">The tasks, at least one and at most the intake's limit (10,000 by default).</param>
/// <param name="Timestamp">When the sender sent it.</param>
public sealed record SubmitBatch(
    Guid BatchId,
    string UserId,
    string Name,
    string Instructions,
    IReadOnlyList<TaskSpec> Tasks,
    DateTimeOffset Timestamp);

/// <summary>Answer to a <see cref="SubmitBatch"/> that intake refused (validation or quota); nothing was stored.</summary>
/// <param name="BatchId">The refused command's batch id.</param>
/// <param name="UserId">The refused command's user.</param>
/// <param name="Reason">One line: <c>the batch is invalid</c>, <c>monthly quota exceeded</c>, <c>conflict</c> or <c>unknown user</c>.</param>
/// <param name="Errors">Field (such as <c>tasks[0].input.company</c>) to messages naming the limit, as in the HTTP API's problem+json.</param>
/// <param name="Timestamp">When intake refused it.</param>
public sealed record BatchRejected(
    Guid BatchId,
    string UserId,
    string Reason,
    IReadOnlyDictionary<string, string[]> Errors,
    DateTimeOffset Timestamp);

/// <summary>A batch was accepted and stored with its tasks; its tasks are queued for the user's slots.</summary>
/// <param name="BatchId">The batch.</param>
/// <param name="UserId">Its owner.</param>
/// <param name="Name">Its name as submitted.</param>
/// <param name="Total">How many tasks it has.</param>
/// <param name="Timestamp">When it was stored.</param>
public sealed record BatchSubmitted(Guid BatchId, string UserId, string Name, int Total, DateTimeOffset Timestamp);

/// <summary>
/// Tasks of a batch reached a terminal state (a coalesced notification: the task rows are the truth). The batch saga
/// counts every task of the batch that ended since it last looked, so one of these stands for any number of tasks, and
/// a duplicate or a late one counts nothing. A worker sends at most one per batch in each short window.
/// </summary>
/// <param name="BatchId">The batch whose tasks ended.</param>
/// <param name="UserId">Its owner.</param>
/// <param name="Timestamp">When the latest of those tasks ended.</param>
public sealed record BatchTasksEnded(Guid BatchId, string UserId, DateTimeOffset Timestamp);

/// <summary>
/// A task waits in its user's queue. No longer published per task (issue 17): nothing consumed it, and a 10,000-task batch
/// paid for 10,000 of them at intake. A batch's tasks are announced by <see cref="BatchSubmitted"/> (its
/// <see cref="BatchSubmitted.Total"/>); follow a batch's tasks through its events stream (<c>GET /v1/batches/{id}/events</c>)
/// or its task rows. The record stays for internal services that still reference it.
/// </summary>
/// <param name="TaskId">The task.</param>
/// <param name="BatchId">Its batch.</param>
/// <param name="UserId">Its owner.</param>
/// <param name="Key">The task's key in its batch.</param>
/// <param name="Attempt">The attempt it waits for, from 1.</param>
/// <param name="Timestamp">When it was queued.</param>
public sealed record TaskQueued(Guid TaskId, Guid BatchId, string UserId, string Key, int Attempt, DateTimeOffset Timestamp);

/// <summary>
/// Command to a worker: run this task, which holds <see cref="Slot"/> of its user's slots. <see cref="LeaseId"/> names
/// this delivery: the worker runs the task that carries the lease, and when the task ends it may refill the slot with
/// the user's next task under the same lease, so a slot's tasks run back to back without a trip through the broker.
/// Until the delivery is acknowledged, a worker that dies hands the lease back: RabbitMQ redelivers it, and the
/// receiver takes over the running task that carries it.
/// </summary>
/// <param name="TaskId">The task to run.</param>
/// <param name="BatchId">Its batch.</param>
/// <param name="UserId">Its owner.</param>
/// <param name="Tier">The owner's tier when it was dispatched.</param>
/// <param name="Slot">The owner's slot (0 to concurrency − 1) the task holds.</param>
/// <param name="Attempt">The attempt to run, from 1.</param>
/// <param name="LeaseId">This delivery's lease: a unit of the fleet on the worker that takes it, which runs the task and then
/// whichever task the unit is given to next (any user's) until the lease ends.</param>
/// <param name="Timestamp">When it was dispatched.</param>
public sealed record ExecuteTask(
    Guid TaskId,
    Guid BatchId,
    string UserId,
    string Tier,
    int Slot,
    int Attempt,
    Guid LeaseId,
    DateTimeOffset Timestamp);

/// <summary>
/// A worker started an attempt of a task. Published for the first task of a batch each worker starts (the saga then shows
/// the batch running), not for every task: a task's start is on its row (<c>startedAt</c>, and the events stream's desks).
/// </summary>
/// <param name="TaskId">The task.</param>
/// <param name="BatchId">Its batch.</param>
/// <param name="UserId">Its owner.</param>
/// <param name="Slot">The owner's slot it runs in.</param>
/// <param name="Attempt">The attempt, from 1.</param>
/// <param name="Timestamp">When the attempt started.</param>
public sealed record TaskStarted(Guid TaskId, Guid BatchId, string UserId, int Slot, int Attempt, DateTimeOffset Timestamp);

/// <summary>
/// A task completed (terminal); its result is on the task (<c>GET /v1/batches/{batchId}/tasks</c>). Workers announce ends
/// with one <see cref="BatchTasksEnded"/> per batch instead, and the batch's events stream has each task's end; the saga
/// still counts a batch on this event from any other publisher.
/// </summary>
/// <param name="TaskId">The task.</param>
/// <param name="BatchId">Its batch.</param>
/// <param name="UserId">Its owner.</param>
/// <param name="Slot">The owner's slot it ran in.</param>
/// <param name="StartedAt">When its last attempt started.</param>
/// <param name="Timestamp">When it completed.</param>
public sealed record TaskCompleted(Guid TaskId, Guid BatchId, string UserId, int Slot, DateTimeOffset StartedAt, DateTimeOffset Timestamp);

/// <summary>
/// A task ended failed (terminal). Retries are decided before this is published. Published by the orchestrator for a task
/// it ends itself (a delivery that could not be processed, an attempt past its run time); a worker's failures are told with
/// <see cref="BatchTasksEnded"/>.
/// </summary>
/// <param name="TaskId">The task.</param>
/// <param name="BatchId">Its batch.</param>
/// <param name="UserId">Its owner.</param>
/// <param name="Slot">The owner's slot it held; null when it held none.</param>
/// <param name="Error">What went wrong, in words the user can act on.</param>
/// <param name="Attempts">How many attempts it had.</param>
/// <param name="Timestamp">When it failed.</param>
public sealed record TaskFailed(Guid TaskId, Guid BatchId, string UserId, int? Slot, string Error, int Attempts, DateTimeOffset Timestamp);

/// <summary>A task was cancelled with its batch (terminal).</summary>
/// <param name="TaskId">The task.</param>
/// <param name="BatchId">Its batch.</param>
/// <param name="UserId">Its owner.</param>
/// <param name="Slot">The owner's slot it held; null for a task that was still queued.</param>
/// <param name="Timestamp">When it was cancelled.</param>
public sealed record TaskCancelled(Guid TaskId, Guid BatchId, string UserId, int? Slot, DateTimeOffset Timestamp);

/// <summary>
/// Cancel a batch over the bus, with the same effect as <c>DELETE /v1/batches/{batchId}</c>. <see cref="UserId"/> must
/// own the batch; a command for an unknown batch, another user's or a finished one changes nothing, and so does a repeat.
/// </summary>
/// <param name="BatchId">The batch to cancel.</param>
/// <param name="UserId">Its owner.</param>
/// <param name="Timestamp">When the sender sent it.</param>
public sealed record CancelBatch(Guid BatchId, string UserId, DateTimeOffset Timestamp);

/// <summary>
/// A batch's cancellation was committed: every worker instance hears it (each on its own queue) and stops the tasks of
/// the batch it is running. A notification only: the batch row is the truth, and the orchestrator ends whatever a lost
/// notification leaves running.
/// </summary>
/// <param name="BatchId">The cancelled batch.</param>
/// <param name="UserId">Its owner.</param>
/// <param name="Timestamp">When the cancellation was committed.</param>
public sealed record BatchCancellationRequested(Guid BatchId, string UserId, DateTimeOffset Timestamp);

/// <summary>
/// A batch's counters after one of its tasks reached a terminal state, once per task. A listener that consumes
/// concurrently may see two of them out of order: the highest counts, or <see cref="BatchFinished"/>, are what holds.
/// </summary>
/// <param name="BatchId">The batch.</param>
/// <param name="UserId">Its owner.</param>
/// <param name="Status">The batch's status: <c>queued</c>, <c>running</c>, <c>completed</c>, <c>completed_with_failures</c> or <c>cancelled</c>.</param>
/// <param name="Total">How many tasks it has.</param>
/// <param name="Completed">How many completed.</param>
/// <param name="Failed">How many failed.</param>
/// <param name="Cancelled">How many were cancelled.</param>
/// <param name="Timestamp">When the counters were taken.</param>
public sealed record BatchProgressed(
    Guid BatchId,
    string UserId,
    string Status,
    int Total,
    int Completed,
    int Failed,
    int Cancelled,
    DateTimeOffset Timestamp);

/// <summary>Every task of a batch reached a terminal state; the batch's final status and counts. Published once per batch.</summary>
/// <param name="BatchId">The batch.</param>
/// <param name="UserId">Its owner.</param>
/// <param name="Status">The final status: <c>completed</c>, <c>completed_with_failures</c> or <c>cancelled</c>.</param>
/// <param name="Total">How many tasks it has.</param>
/// <param name="Completed">How many completed.</param>
/// <param name="Failed">How many failed.</param>
/// <param name="Cancelled">How many were cancelled.</param>
/// <param name="Timestamp">When it finished.</param>
public sealed record BatchFinished(
    Guid BatchId,
    string UserId,
    string Status,
    int Total,
    int Completed,
    int Failed,
    int Cancelled,
    DateTimeOffset Timestamp);

/// <summary>A user's tier (or their own provider key) changed; their slots follow on the next dispatch.</summary>
/// <param name="UserId">The user.</param>
/// <param name="Tier">The new tier, such as <c>free</c>, <c>starter</c>, <c>pro</c> or <c>enterprise</c>.</param>
/// <param name="OwnProviderKey">Whether the user now runs on their own provider key (which may give more slots).</param>
/// <param name="Timestamp">When it changed.</param>
public sealed record UserTierChanged(string UserId, string Tier, bool OwnProviderKey, DateTimeOffset Timestamp);

/// <summary>A task failed transiently and is queued again, not before <see cref="NotBefore"/>; its slot is free meanwhile.</summary>
/// <param name="TaskId">The task.</param>
/// <param name="BatchId">Its batch.</param>
/// <param name="UserId">Its owner.</param>
/// <param name="Attempts">How many attempts it has had so far.</param>
/// <param name="NotBefore">The earliest time its next attempt may start (the provider's hint or the backoff).</param>
/// <param name="Error">Why the last attempt failed.</param>
/// <param name="Timestamp">When the retry was decided.</param>
public sealed record TaskRetrying(Guid TaskId, Guid BatchId, string UserId, int Attempts, DateTimeOffset NotBefore, string Error, DateTimeOffset Timestamp);
