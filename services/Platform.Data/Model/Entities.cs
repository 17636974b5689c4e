namespace Platform.Data.Model;

public sealed class User
{
    public required string UserId { get; set; }
    public required string Tier { get; set; }

    /// <summary>
    /// The user has an active provider key of their own (<see cref="ProviderKey"/>): a tier may grant more slots for
    /// that. Set and cleared with the key, under the user's dispatch lock, so the dispatcher reads it from this row.
    /// </summary>
    public bool OwnProviderKey { get; set; }

    /// <summary>SHA-256 of the API key, hex. The key itself is shown once and never stored.</summary>
    public required string ApiKeyHash { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>The month (yyyy-MM, UTC) that <see cref="UsedThisMonth"/> counts; a new month starts at zero.</summary>
    public required string QuotaMonth { get; set; }

    public int UsedThisMonth { get; set; }

    /// <summary>Provider tokens the user's tasks used in <see cref="QuotaMonth"/>: counted with <see cref="UsedThisMonth"/>, reset with it.</summary>
    public long PromptTokensThisMonth { get; set; }

    public long CompletionTokensThisMonth { get; set; }

    /// <summary>Tasks accepted but not yet terminal: counted against the quota until they complete or are released.</summary>
    public int Reserved { get; set; }
}

/// <summary>
/// A user's own provider API key (BYOK), at most one per user. The key itself is stored only as a Data Protection
/// payload (see docs/secrets.md); <see cref="KeyHint"/> is all that is ever shown back.
/// </summary>
public sealed class ProviderKey
{
    public required string UserId { get; set; }

    /// <summary>New for every key the user gives: what a rejection names, so that it never marks a newer key.</summary>
    public Guid CredentialId { get; set; }

    /// <summary>The key, protected with the platform's Data Protection key ring (whose keys the master key protects).</summary>
    public required string ProtectedKey { get; set; }

    /// <summary>The key's last four characters (<c>…abcd</c>): enough to recognise it, too little to use it.</summary>
    public required string KeyHint { get; set; }

    public required string BaseUrl { get; set; }
    public required string Model { get; set; }
    public string Status { get; set; } = ProviderKeyStatuses.Active;

    /// <summary>Why the key is no longer used (the provider's refusal), while <see cref="Status"/> is rejected.</summary>
    public string? Reason { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
    public DateTimeOffset? RejectedAt { get; set; }
}

public static class ProviderKeyStatuses
{
    /// <summary>Checked against the provider when given, and used for the user's tasks.</summary>
    public const string Active = "active";

    /// <summary>The provider refused it during a task: the user is back on the platform's credential until the next PUT.</summary>
    public const string Rejected = "rejected";
}

public sealed class Batch
{
    public Guid BatchId { get; set; }
    public required string UserId { get; set; }
    public required string Name { get; set; }
    public required string Instructions { get; set; }
    public int Total { get; set; }
    public DateTimeOffset CreatedAt { get; set; }

    public string? IdempotencyKey { get; set; }

    /// <summary>Hash of the request body that created the batch, to tell a replay from a conflicting reuse of a key.</summary>
    public string? RequestHash { get; set; }

    /// <summary>The batch may still have queued tasks: the dispatcher only looks at open batches, so its work is bounded by them.</summary>
    public bool Open { get; set; }

    /// <summary>The user's dispatch turn at which this batch last had a task dispatched; the smallest goes next.</summary>
    public long LastTurn { get; set; }

    /// <summary>
    /// When the owner asked to cancel the batch; null while nobody has. From then on none of its tasks is dispatched,
    /// started or queued again (<see cref="Cancellation.BatchCancellation"/>).
    /// </summary>
    public DateTimeOffset? CancelRequestedAt { get; set; }

    /// <summary>
    /// The cancellation may still have running tasks to stop. Cleared by the reconciler's backstop once it has ended
    /// whatever the workers did not, so that the backstop only ever looks at batches being cancelled.
    /// </summary>
    public bool Cancelling { get; set; }
}

public sealed class ResearchTask
{
    public Guid TaskId { get; set; }
    public Guid BatchId { get; set; }
    public required string UserId { get; set; }

    /// <summary>Position in the batch: tasks of one batch are dispatched oldest first.</summary>
    public int Seq { get; set; }

    public required string Key { get; set; }

    /// <summary>The task's input object, as JSON.</summary>
    public required string Input { get; set; }

    public string Status { get; set; } = TaskStatuses.Queued;
    public int Attempts { get; set; }

    /// <summary>The worker instance (host:pid) that claimed the latest attempt: who to ask, and what a drill checks.</summary>
    public string? Worker { get; set; }

    /// <summary>The user's slot (desk) the task holds from dispatch to its terminal state.</summary>
    public int? Slot { get; set; }

    /// <summary>
    /// The <c>ExecuteTask</c> delivery the task runs under (its <c>LeaseId</c>), set at dispatch. A worker that frees a
    /// slot may refill it with the next task under its own delivery's lease; if that worker dies, the delivery comes back
    /// and whoever receives it takes over the running task that carries its lease.
    /// </summary>
    public Guid? LeaseId { get; set; }

    public DateTimeOffset QueuedAt { get; set; }
    public DateTimeOffset? DispatchedAt { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }

    /// <summary>Not to be dispatched before this time (retry backoff lives here, not in the broker).</summary>
    public DateTimeOffset? NotBefore { get; set; }

    /// <summary>Result JSON of a completed task.</summary>
    public string? Result { get; set; }

    public string? Error { get; set; }

    /// <summary>What the provider counted for the completed attempt; null when no provider ran it (simulated).</summary>
    public int? PromptTokens { get; set; }

    public int? CompletionTokens { get; set; }

    /// <summary>The model that answered, as the provider named it.</summary>
    public string? Model { get; set; }

    /// <summary>The batch saga has counted this task's terminal state: makes a duplicate terminal event a no-op.</summary>
    public bool Counted { get; set; }

    /// <summary>
    /// W3C traceparent of the submission that queued the task. Dispatch continues the task's trace from here, whatever
    /// event triggered it, so one task's journey is one connected trace.
    /// </summary>
    public string? TraceParent { get; set; }

    /// <summary>
    /// The credential whose budget the latest dispatch reserved for this task, and the tokens it reserved; null for a task
    /// that calls no provider (simulated). The task's end settles that reservation (docs/fair-share.md, "Provider budgets").
    /// </summary>
    public Guid? BudgetCredentialId { get; set; }

    public int? ReservedTokens { get; set; }
}

public static class TaskStatuses
{
    public const string Queued = "queued";

    /// <summary>Holds a slot: dispatched to a worker, started or about to start (<see cref="ResearchTask.StartedAt"/> tells).</summary>
    public const string Running = "running";

    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> All = [Queued, Running, Completed, Failed, Cancelled];

    public static bool IsTerminal(string status) => status is Completed or Failed or Cancelled;
}

public static class BatchStatuses
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string CompletedWithFailures = "completed_with_failures";
    public const string Cancelled = "cancelled";

    /// <summary>Cancellation was requested and the batch has not finished yet: its running tasks are being stopped.</summary>
    public const string Cancelling = "cancelling";

    public static readonly IReadOnlyList<string> All = [Queued, Running, Cancelling, Completed, CompletedWithFailures, Cancelled];
}

public sealed class OutboxMessage
{
    public long Id { get; set; }

    /// <summary>Full name of a <c>Platform.Contracts</c> record.</summary>
    public required string MessageType { get; set; }

    public required string Body { get; set; }
    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>W3C traceparent of the activity that wrote the message, so the publish continues the same trace.</summary>
    public string? TraceParent { get; set; }
}

/// <summary>
/// A worker instance of the fleet, as it registered itself and last heartbeat. The fleet's capacity is what the live
/// ones offer (<see cref="Fleet"/>); a killed worker's row goes stale and the reconciler prunes it.
/// </summary>
public sealed class WorkerInstance
{
    /// <summary>host:pid, as the worker writes it into <see cref="ResearchTask.Worker"/>.</summary>
    public required string WorkerId { get; set; }

    /// <summary>Tasks it runs at once (<c>Platform:Worker:Capacity</c>).</summary>
    public int Capacity { get; set; }

    public DateTimeOffset StartedAt { get; set; }

    /// <summary>The database's clock at the latest heartbeat, so that instances' clocks never have to agree.</summary>
    public DateTimeOffset HeartbeatAt { get; set; }

    /// <summary>It was told to stop: it takes no new task (its running ones may still finish), so its capacity is gone.</summary>
    public bool Stopping { get; set; }
}

/// <summary>
/// A user's standing in the fair share of the fleet (docs/fair-share.md): its virtual time, the share-seconds of work it
/// was given so far over its weight. The next free unit goes to the eligible ready user with the lowest. Written only by
/// dispatch decisions, under the fleet's lock.
/// </summary>
public sealed class UserShare
{
    public required string UserId { get; set; }

    /// <summary>Share-seconds: each dispatch charges the user's mean task duration over its weight; a task's end corrects it.</summary>
    public double VirtualTime { get; set; }

    /// <summary>The user's recent mean task duration in seconds (moving average), the estimate a dispatch charges.</summary>
    public double MeanSeconds { get; set; } = 1;

    /// <summary>It may have a task due to run (an open batch with queued work, as of the last decision that looked).</summary>
    public bool Ready { get; set; }

    /// <summary>
    /// The tokens the user's recent provider calls held of their credential's budget while they ran (moving average): what
    /// a dispatch reserves. Null until one ran; then <c>Platform:Provider:EstimatedTokens</c> stands in.
    /// </summary>
    public double? MeanTokens { get; set; }
}

/// <summary>
/// A provider credential's rate budget (docs/fair-share.md, "Provider budgets"): the platform's own key
/// (<see cref="PlatformCredential"/>) or a user's (<see cref="ProviderKey.CredentialId"/>). <see cref="Requests"/> and
/// <see cref="Tokens"/> are what the trailing minute holds, reserved and used: they drain at the limit per minute, like the
/// provider's own buckets refill. Written only under the fleet's lock, but for a 429's pause.
/// </summary>
public sealed class CredentialBudget
{
    /// <summary>The platform's own credential, shared by every user without a key of their own.</summary>
    public static readonly Guid PlatformCredential = Guid.Empty;

    public Guid CredentialId { get; set; }

    /// <summary>Requests and tokens per minute; null while unknown (then nothing is held back).</summary>
    public int? Rpm { get; set; }

    public int? Tpm { get; set; }

    /// <summary>The limits are configuration's (<c>Platform:Provider:Rpm</c>/<c>Tpm</c>): what the headers say does not replace them.</summary>
    public bool LimitsConfigured { get; set; }

    public double Requests { get; set; }
    public double Tokens { get; set; }

    /// <summary>When <see cref="Requests"/> and <see cref="Tokens"/> were last drained to.</summary>
    public DateTimeOffset RefilledAt { get; set; }

    /// <summary>A 429 stops every dispatch on the credential until the provider's reset.</summary>
    public DateTimeOffset? PausedUntil { get; set; }

    /// <summary>The platform key's hint (<c>…abcd</c>), written by the workers; a user's key has its hint on its own row.</summary>
    public string? KeyHint { get; set; }
}
