using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;
using Platform.Contracts;
using Platform.Data;
using Platform.Data.Model;
using Platform.Dispatch;
using Platform.ServiceDefaults;
using Platform.Data.Cancellation;
using Platform.Worker.Research;

namespace Platform.Worker.Execution;

/// <summary>
/// Where a task runs. An <see cref="ExecuteTask"/> delivery is a lease on one of a user's slots: the runner claims the
/// running task that carries the lease, runs the research executor, and records the outcome with a conditional
/// transition (<c>WHERE status = 'running'</c> and still this claim: the same attempt, started) plus the matching quota
/// change and event, in one transaction. When the task completes or fails, the same transaction asks the user's work
/// queue to refill the freed slot, and the task chosen for it carries this lease: the runner claims it there and runs
/// it next, so a slot's tasks run back to back without two trips through the broker. The delivery is acknowledged
/// when the lease's last task ends; until then, if this worker dies, RabbitMQ redelivers it and the receiver takes over
/// whichever task then carries the lease. Only such a redelivery (or this process retrying the same delivery) takes a
/// started task over: a first delivery starts the lease's task only if nothing has started it, because any other first
/// delivery is a duplicate (the outbox publishes at least once) of the one another runner holds and is running. A
/// duplicate of a finished lease changes nothing either, and an attempt that was superseded (taken over by a
/// redelivery, or taken back by the reconciler's run-time limit and dispatched again) cannot record a result over the
/// attempt that replaced it.
/// </summary>
/// <remarks>
/// Cancellation: the executor gets a token that trips when the task's batch is cancelled (<see cref="RunningTasks"/>)
/// or when this host stops. Only the batch's cancellation ends the task cancelled; a host stopping leaves it running,
/// and its redelivered <see cref="ExecuteTask"/> runs it again. A stopping host hands no more tasks over. A task of a
/// batch whose cancellation was requested never starts (claim) and is never queued again (retry).
/// </remarks>
public sealed partial class TaskRunner(
    PlatformDbContext db,
    IResearchExecutor executor,
    UserCredentials credentials,
    RunningTasks runningTasks,
    BatchEndNotices notices,
    TaskEnds ends,
    IOptions<WorkerOptions> options,
    IHostApplicationLifetime lifetime,
    TimeProvider clock,
    ILogger<TaskRunner> logger)
{
    /// <param name="command">The delivery: its lease, and whose.</param>
    /// <param name="redelivery">
    /// RabbitMQ gave the delivery back after its holder let go of it unacknowledged (the worker died or stopped), or this
    /// process is retrying it: it may take over a task its lease already started.
    /// </param>
    /// <param name="cancellationToken">The delivery's token.</param>
    public async Task Run(ExecuteTask command, bool redelivery, CancellationToken cancellationToken)
    {
        var lease = new Lease(command.LeaseId, clock.GetUtcNow());
        var claim = await Claim(lease, redelivery, cancellationToken);
        for (var handedOver = false; claim is not null; handedOver = true)
            claim = await RunClaimed(lease, claim, handedOver, cancellationToken);
    }

    /// <summary>Runs one claimed task to its outcome; returns the task handed over to this lease next, if any.</summary>
    async Task<Claimed?> RunClaimed(Lease lease, Claimed claim, bool handedOver, CancellationToken cancellationToken)
    {
        // The task's run: TaskCompleted/TaskRetrying/TaskFailed are written under it, so they continue the task's trace.
        // A task the delivery brought runs under the delivery's span; a handed-over one continues its own trace.
        using var activity = (handedOver && ActivityContext.TryParse(claim.TraceParent, null, isRemote: true, out var parent)
                ? WorkerTelemetry.Source.StartActivity("run task", ActivityKind.Internal, parent)
                : WorkerTelemetry.Source.StartActivity("run task"))
            .Tag(claim.UserId, claim.BatchId, claim.TaskId, claim.Tier, claim.Slot, claim.Attempts);
        activity?.SetTag("platform.task.handed_over", handedOver);

        // Registered once the claim has committed: a cancellation committed later is announced later, and one announced
        // since the claim's commit is remembered by RunningTasks for this registration to find.
        using var registration = runningTasks.Register(claim.BatchId);
        var outcome = "completed";
        using var execution = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, registration.Token);
        ResearchRequest? request = null;
        try
        {
            ResearchOutcome researched;
            try
            {
                // A simulated task never calls a provider, so it never needs the key decrypted.
                var credential = claim.Input["simulate"] is JsonObject ? null : await credentials.Active(claim.UserId, execution.Token);
                request = new ResearchRequest(claim.TaskId, claim.Key, claim.Instructions, claim.Input, claim.Attempts, credential);
                activity?.SetTag("platform.credential.own", credential is not null);
                researched = await executor.Execute(request, new Progress<string>(stage => LogStage(logger, claim.TaskId, stage)), execution.Token);
            }
            catch (OperationCanceledException) when (registration.CancellationRequested)
            {
                outcome = "cancelled";
                await Cancel(claim, cancellationToken);
                return null;
            }
            catch (ResearchFailedException ex) when (ex.CredentialRejected && request?.Credential?.CredentialId is { } credentialId)
            {
                // The user's key, not the task, failed: whatever the attempts so far, the task runs again, on the
                // platform's credential (the key is set aside in the same transaction).
                outcome = "credential_rejected";
                activity?.AddException(ex);
                await RetryWithoutUserKey(lease, claim, credentialId, ex, cancellationToken);
                return null;
            }
            catch (ResearchFailedException ex) when (ex.Transient && claim.Attempts < options.Value.MaxAttempts)
            {
                outcome = "retrying";
                activity?.AddException(ex);
                WorkerTelemetry.Retries.Add(1, new KeyValuePair<string, object?>(PlatformTags.Tier, claim.Tier));
                await Retry(lease, claim, ex, cancellationToken);
                return null;
            }
            catch (ResearchFailedException ex)
            {
                outcome = "failed";
                activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
                return await Fail(lease, claim, ex.Transient ? $"{ex.Message} (gave up after {claim.Attempts} attempts)" : ex.Message, cancellationToken);
            }
            // Only what the executor threw: a database error looking up the user's key (request still null) propagates
            // like any other, and the delivery is retried.
            catch (Exception ex) when (ex is not OperationCanceledException && request is not null)
            {
                // Not a research outcome but a defect: running the executor again in this delivery would repeat it (and
                // its cost). The delivery faults at once; the orchestrator's Fault<ExecuteTask> consumer ends the task
                // that carries its lease failed.
                outcome = "crashed";
                activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
                throw new ExecutorCrashedException(claim.TaskId, ex);
            }

            return await Complete(lease, claim, researched, cancellationToken);
        }
        finally
        {
            activity?.SetTag("platform.task.outcome", outcome);
            WorkerTelemetry.TaskDuration.Record((clock.GetUtcNow() - claim.StartedAt).TotalSeconds,
                new KeyValuePair<string, object?>(PlatformTags.Tier, claim.Tier), new KeyValuePair<string, object?>("platform.task.outcome", outcome));
        }
    }

    /// <summary>
    /// Starts an attempt of the task that carries the delivery's lease, in its own transaction; null when there is none
    /// for this delivery to start (the lease ended, or a first delivery finds its task started: a duplicate), or when it
    /// was cancelled here because its batch is being cancelled.
    /// </summary>
    async Task<Claimed?> Claim(Lease lease, bool takeOver, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var claim = await ClaimInTransaction(lease, now, takeOver, cancellationToken);
        if (claim is null)
        {
            // Dispatched just before its batch's cancellation: it ends here without starting (a no-op if it is not running).
            var leased = await db.Database.SqlQuery<Guid>($"""
                SELECT task_id AS "Value" FROM tasks WHERE lease_id = {lease.LeaseId} AND status = 'running'
                """).ToArrayAsync(cancellationToken);
            var cancelled = await BatchCancellation.EndRunningTasks(db, leased, now, cancellationToken);
            await db.SaveChangesAsync(cancellationToken);
            await tx.CommitAsync(cancellationToken);
            if (cancelled.Count > 0)
                LogCancelledBeforeStart(logger, cancelled[0].TaskId);
            else
                LogSkipped(logger, lease.LeaseId);
            return null;
        }

        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return claim;
    }

    /// <summary>
    /// Claims the running task that carries the lease, inside the caller's transaction (the caller saves and commits):
    /// only one not started yet, unless <paramref name="takeOver"/>. Two deliveries of one lease claiming at once take
    /// turns on the task's row, and the second finds it started.
    /// </summary>
    async Task<Claimed?> ClaimInTransaction(Lease lease, DateTimeOffset now, bool takeOver, CancellationToken cancellationToken)
    {
        await using var batch = db.Batch(TaskClaim.Statement(lease.LeaseId, now, WorkerName, takeOver));
        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        return Started(await TaskClaim.Read(reader, cancellationToken));
    }

    /// <summary>
    /// An attempt that started in this unit of work (a delivery's claim, or a hand-over). Only a batch's first start in
    /// this process is announced with TaskStarted: the saga needs one to say the batch runs, not one per task.
    /// </summary>
    Claimed? Started(ClaimedTask? task)
    {
        if (task is null)
            return null;
        notices.AnnounceStart(db, task);
        return ToClaimed(task);
    }

    static Claimed ToClaimed(ClaimedTask task) =>
        new Claimed(task.TaskId, task.BatchId, task.UserId, task.Tier, task.Slot, task.Key, task.Instructions,
            JsonNode.Parse(task.Input) as JsonObject ?? [], task.Attempts, task.StartedAt, task.TraceParent);

    /// <summary>
    /// Ends the task completed, with the usage of the user's quota (and the provider tokens it took, on the task's row and
    /// the user's month), and refills its slot, in one transaction (see <see cref="RefillSlot"/>); returns the task handed
    /// over to this lease next, if any. The tokens ride on the same conditional transition as the task's end, so a
    /// superseded attempt counts none and a completed one counts them exactly once.
    /// </summary>
    async Task<Claimed?> Complete(Lease lease, Claimed claim, ResearchOutcome researched, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var usage = researched.Usage;
        var completed = Statements.Statement("""
            UPDATE tasks SET status = 'completed', finished_at = $2, result = $3::jsonb, error = NULL,
              prompt_tokens = $5, completion_tokens = $6, model = $7
            WHERE task_id = $1 AND status = 'running' AND attempts = $4 AND started_at IS NOT NULL
            RETURNING task_id
            """, claim.TaskId, now, researched.Result.ToJsonString(), claim.Attempts, usage?.PromptTokens, usage?.CompletionTokens, usage?.Model);
        var quota = Quota.CommitStatement(claim.UserId, now, usage?.PromptTokens ?? 0, usage?.CompletionTokens ?? 0);
        // No usage: no provider ran (no platform provider configured), so whatever the dispatch reserved goes back.
        var settle = CredentialBudgets.SettleStatements(claim.TaskId, usage is null ? 0 : usage.PromptTokens + usage.CompletionTokens,
            researched.HeldTokens, researched.Limits, now).ToList();
        var (applied, next) = await RefillSlot(lease, claim, new FreedSlot(claim.Slot, completed, quota, (now - claim.StartedAt).TotalSeconds, settle), now);
        if (applied)
            LogCompleted(logger, claim.TaskId, (now - claim.StartedAt).TotalMilliseconds);
        return next;
    }

    /// <summary>
    /// Whether this lease may run the slot's next task. A stopping host hands nothing over, and neither does a delivery
    /// held for <see cref="WorkerOptions.MaxLeaseHold"/>: RabbitMQ would close the channel of a delivery held past its
    /// <c>consumer_timeout</c>. Their slot's next task gets an ExecuteTask of its own.
    /// </summary>
    bool MayHandOver(Lease lease) =>
        !lifetime.ApplicationStopping.IsCancellationRequested && clock.GetUtcNow() - lease.ReceivedAt < options.Value.MaxLeaseHold;

    /// <summary>
    /// Ends the task (<paramref name="freed"/>) and lets the work queue give out the unit it frees (and any other free one)
    /// in one transaction, shared with the ends of this worker's other tasks (<see cref="TaskEnds"/>); the task it gives
    /// this lease, if any, started there and runs next. Not ended when the task's end did not apply: the attempt was
    /// superseded (taken over, or ended by the reconciler). Once it committed, the batch's saga is told (coalesced).
    /// </summary>
    async Task<(bool Ended, Claimed? Next)> RefillSlot(Lease lease, Claimed claim, FreedSlot freed, DateTimeOffset now)
    {
        var handOver = MayHandOver(lease) ? new HandOver(lease.LeaseId, WorkerName) : null;
        var recorded = await ends.Record(new Freeing(claim.UserId, freed, handOver), claim.BatchId, now);
        return (recorded.Ended, recorded.Next is { } next ? ToClaimed(next) : null);
    }

    async Task Retry(Lease lease, Claimed claim, ResearchFailedException failure, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var notBefore = now + (failure.RetryAfter ?? Backoff(claim.Attempts));
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);

        // A rate limit pauses the task's credential until the provider's reset, in this transaction (rolled back with it
        // when the attempt was superseded); first, since a budget row is always locked before any batch row.
        if (failure.RateLimited)
        {
            var until = now + (failure.RetryAfter ?? TimeSpan.FromSeconds(1));
            await using var pause = db.Batch(CredentialBudgets.PauseStatement(claim.TaskId, until, failure.Limits, now));
            await pause.ExecuteNonQueryAsync(cancellationToken);
        }

        // The batch row first, locked: a cancellation takes it before ending the batch's queued tasks, so either it
        // committed and this attempt ends cancelled instead of queued, or it waits and then finds this task queued.
        var cancelRequested = await db.Database.SqlQuery<bool>($"""
            SELECT cancel_requested_at IS NOT NULL AS "Value" FROM batches WHERE batch_id = {claim.BatchId} FOR NO KEY UPDATE
            """).ToListAsync(cancellationToken);
        if (cancelRequested.SingleOrDefault())
        {
            if (await CommitCancelled(tx, claim, now, cancellationToken))
                LogCancelledInsteadOfRetry(logger, claim.TaskId, claim.Attempts);
            return;
        }

        var updated = await db.Database.ExecuteSqlAsync($"""
            UPDATE tasks SET status = 'queued', slot = NULL, not_before = {notBefore}, error = {failure.Message}
            WHERE task_id = {claim.TaskId} AND status = 'running' AND attempts = {claim.Attempts} AND started_at IS NOT NULL
            """, cancellationToken);
        if (updated == 0)
            return;

        // The task is queued again: its batch is back in the dispatcher's view.
        await db.Database.ExecuteSqlAsync($"UPDATE batches SET open = true WHERE batch_id = {claim.BatchId} AND NOT open", cancellationToken);
        db.Publish(new TaskRetrying(claim.TaskId, claim.BatchId, claim.UserId, claim.Attempts, notBefore, failure.Message, now));
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        LogRetrying(logger, claim.TaskId, claim.Attempts, notBefore);
    }

    /// <summary>
    /// The provider refused the user's own key: marks that key rejected (if it is still the user's active one), clears the
    /// user's own-key slots and announces it, and queues the task again at once, all in one transaction under the user's
    /// dispatch lock (the lock order of <see cref="BatchCancellation"/>: dispatch lock, batch, tasks, then the user's rows).
    /// The next attempt finds no active key and runs on the platform's credential; the user's next PUT restores the key.
    /// </summary>
    async Task RetryWithoutUserKey(Lease lease, Claimed claim, Guid credentialId, ResearchFailedException failure, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        await DispatchLock.Acquire(db, claim.UserId, cancellationToken);
        var cancelRequested = await db.Database.SqlQuery<bool>($"""
            SELECT cancel_requested_at IS NOT NULL AS "Value" FROM batches WHERE batch_id = {claim.BatchId} FOR NO KEY UPDATE
            """).ToListAsync(cancellationToken);

        var requeued = 0;
        if (!cancelRequested.SingleOrDefault())
        {
            requeued = await db.Database.ExecuteSqlAsync($"""
                UPDATE tasks SET status = 'queued', slot = NULL, not_before = NULL, error = {failure.Message}
                WHERE task_id = {claim.TaskId} AND status = 'running' AND attempts = {claim.Attempts} AND started_at IS NOT NULL
                """, cancellationToken);
            if (requeued > 0)
            {
                await db.Database.ExecuteSqlAsync($"UPDATE batches SET open = true WHERE batch_id = {claim.BatchId} AND NOT open", cancellationToken);
                db.Publish(new TaskRetrying(claim.TaskId, claim.BatchId, claim.UserId, claim.Attempts, now, failure.Message, now));
            }
        }
        else
        {
            await BatchCancellation.EndRunningTasks(db, [claim.TaskId], now, cancellationToken);
        }

        // Conditional on the credential: a key the user replaced meanwhile is a new credential and stays active.
        var reason = $"the provider refused this key during a task: {failure.Message}";
        var rejected = await db.Database.ExecuteSqlAsync($"""
            UPDATE provider_keys SET status = {ProviderKeyStatuses.Rejected}, reason = {reason}, rejected_at = {now}
            WHERE credential_id = {credentialId} AND status = {ProviderKeyStatuses.Active}
            """, cancellationToken);
        if (rejected > 0)
        {
            var tier = await db.Database.SqlQuery<string>($"""
                UPDATE users SET own_provider_key = false WHERE user_id = {claim.UserId} RETURNING tier AS "Value"
                """).ToListAsync(cancellationToken);
            db.Publish(new UserTierChanged(claim.UserId, tier.SingleOrDefault() ?? claim.Tier, false, now));
        }

        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        if (rejected > 0)
            LogCredentialRejected(logger, claim.UserId, credentialId, claim.TaskId);
        if (requeued > 0)
            LogRetryingOnPlatformCredential(logger, claim.TaskId, claim.Attempts);
    }

    async Task Cancel(Claimed claim, CancellationToken cancellationToken)
    {
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        if (await CommitCancelled(tx, claim, clock.GetUtcNow(), cancellationToken))
            LogCancelled(logger, claim.TaskId, claim.BatchId);
    }

    /// <summary>
    /// Ends the task cancelled (with its quota release and event) and commits; false when it was no longer running, for
    /// the reconciler or a duplicate delivery ended it first.
    /// </summary>
    async Task<bool> CommitCancelled(IDbContextTransaction tx, Claimed claim, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var cancelled = await BatchCancellation.EndRunningTasks(db, [claim.TaskId], now, cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return cancelled.Count > 0;
    }

    async Task<Claimed?> Fail(Lease lease, Claimed claim, string error, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var failed = Statements.Statement("""
            UPDATE tasks SET status = 'failed', finished_at = $2, error = $3
            WHERE task_id = $1 AND status = 'running' AND attempts = $4 AND started_at IS NOT NULL
            RETURNING task_id
            """, claim.TaskId, now, error, claim.Attempts);
        var (applied, next) = await RefillSlot(lease, claim, new FreedSlot(claim.Slot, failed, Quota.ReleaseStatement(claim.UserId, 1), (now - claim.StartedAt).TotalSeconds), now);
        if (applied)
            LogFailed(logger, claim.TaskId, error);
        return next;
    }

    /// <summary>Exponential backoff with full jitter, so retries of many tasks do not arrive together.</summary>
    TimeSpan Backoff(int attempt)
    {
        var o = options.Value;
        var ceiling = Math.Min(o.RetryMaxDelay.TotalMilliseconds, o.RetryBaseDelay.TotalMilliseconds * Math.Pow(2, attempt - 1));
        return TimeSpan.FromMilliseconds(ceiling / 2 + Random.Shared.NextDouble() * ceiling / 2);
    }

    /// <summary>This worker instance as recorded on the tasks it claims (host:pid): unique among running instances.</summary>
    public static string WorkerName { get; } = $"{Environment.MachineName}:{Environment.ProcessId}";

    /// <summary>The delivery this runner holds: its lease (a unit of the fleet on this worker), and since when.</summary>
    sealed record Lease(Guid LeaseId, DateTimeOffset ReceivedAt);

    /// <summary>The task a lease runs now: whose it is comes from its row, since a lease may run any user's task its unit is given to.</summary>
    sealed record Claimed(Guid TaskId, Guid BatchId, string UserId, string Tier, int Slot, string Key, string Instructions, JsonObject Input,
        int Attempts, DateTimeOffset StartedAt, string? TraceParent);

    [LoggerMessage(Level = LogLevel.Information, Message = "Lease {LeaseId} carries no task for this delivery to start (finished, cancelled, or running under another delivery of the lease): skipped")]
    static partial void LogSkipped(ILogger logger, Guid leaseId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Task {TaskId} stage {Stage}")]
    static partial void LogStage(ILogger logger, Guid taskId, string stage);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} completed in {DurationMs:F0} ms")]
    static partial void LogCompleted(ILogger logger, Guid taskId, double durationMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId} attempt {Attempt} failed transiently; retrying not before {NotBefore:O}")]
    static partial void LogRetrying(ILogger logger, Guid taskId, int attempt, DateTimeOffset notBefore);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The provider refused user {UserId}'s own key (credential {CredentialId}) running task {TaskId}: the key is marked rejected and the user is back on the tier's slots and the platform's credential")]
    static partial void LogCredentialRejected(ILogger logger, string userId, Guid credentialId, Guid taskId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} attempt {Attempt} queued again, to run on the platform's credential")]
    static partial void LogRetryingOnPlatformCredential(ILogger logger, Guid taskId, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} of batch {BatchId} cancelled while running")]
    static partial void LogCancelled(ILogger logger, Guid taskId, Guid batchId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} cancelled before it started: its batch is being cancelled")]
    static partial void LogCancelledBeforeStart(ILogger logger, Guid taskId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} attempt {Attempt} failed transiently; cancelled instead of retried: its batch is being cancelled")]
    static partial void LogCancelledInsteadOfRetry(ILogger logger, Guid taskId, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId} failed: {Error}")]
    static partial void LogFailed(ILogger logger, Guid taskId, string error);
}
