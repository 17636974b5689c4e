using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.Options;
using Platform.Contracts;
using Platform.Data;
using Platform.ServiceDefaults;
using Platform.Data.Cancellation;
using Platform.Worker.Research;

namespace Platform.Worker.Execution;

/// <summary>
/// Where a task runs. Claims the attempt on the task row, runs the research executor, and records the outcome with a
/// conditional transition (<c>WHERE status = 'running'</c> and still this claim: the same attempt, started) plus the
/// matching quota change and event, in one transaction. A duplicate delivery of a finished or cancelled task changes
/// nothing, and an attempt that was superseded (redelivered to another worker, or taken back by the reconciler's
/// run-time limit and dispatched again) cannot record a result over the attempt that replaced it.
/// </summary>
/// <remarks>
/// Cancellation: the executor gets a token that trips when the task's batch is cancelled (<see cref="RunningTasks"/>)
/// or when this host stops. Only the batch's cancellation ends the task cancelled; a host stopping leaves it running,
/// and its redelivered <see cref="ExecuteTask"/> runs it again. A task of a batch whose cancellation was requested
/// never starts (claim) and is never queued again (retry).
/// </remarks>
public sealed partial class TaskRunner(
    PlatformDbContext db,
    IResearchExecutor executor,
    RunningTasks runningTasks,
    IOptions<WorkerOptions> options,
    TimeProvider clock,
    ILogger<TaskRunner> logger)
{
    public async Task Run(ExecuteTask command, CancellationToken cancellationToken)
    {
        // The task's run: TaskStarted, TaskCompleted/TaskRetrying/TaskFailed are written under it, so they continue the task's trace.
        using var activity = WorkerTelemetry.Source.StartActivity("run task")
            .Tag(command.UserId, command.BatchId, command.TaskId, command.Tier, command.Slot, command.Attempt);

        // Registered before the claim: a cancellation committed after the claim read the batch still reaches this
        // attempt, because its notification is published only after that commit.
        using var registration = runningTasks.Register(command.BatchId);

        var claim = await Claim(command, cancellationToken);
        if (claim is null)
        {
            activity?.SetTag("platform.task.outcome", "skipped");
            return;
        }

        var request = new ResearchRequest(command.TaskId, claim.Key, claim.Instructions, claim.Input, claim.Attempts);
        var outcome = "completed";
        using var execution = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, registration.Token);
        try
        {
            JsonObject result;
            try
            {
                result = await executor.Execute(request, new Progress<string>(stage => LogStage(logger, command.TaskId, stage)), execution.Token);
            }
            catch (OperationCanceledException) when (registration.CancellationRequested)
            {
                outcome = "cancelled";
                await Cancel(command, cancellationToken);
                return;
            }
            catch (ResearchFailedException ex) when (ex.Transient && claim.Attempts < options.Value.MaxAttempts)
            {
                outcome = "retrying";
                activity?.AddException(ex);
                WorkerTelemetry.Retries.Add(1, new KeyValuePair<string, object?>(PlatformTags.Tier, command.Tier));
                await Retry(command, claim, ex, cancellationToken);
                return;
            }
            catch (ResearchFailedException ex)
            {
                outcome = "failed";
                activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
                await Fail(command, claim, ex.Transient ? $"{ex.Message} (gave up after {claim.Attempts} attempts)" : ex.Message, cancellationToken);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Not a research outcome but a defect: running the executor again in this delivery would repeat it (and
                // its cost). The delivery faults at once; the orchestrator's Fault<ExecuteTask> consumer ends the task failed.
                outcome = "crashed";
                activity?.SetStatus(ActivityStatusCode.Error, ex.Message);
                throw new ExecutorCrashedException(command.TaskId, ex);
            }

            await Complete(command, claim, result, cancellationToken);
        }
        finally
        {
            activity?.SetTag("platform.task.outcome", outcome);
            WorkerTelemetry.TaskDuration.Record((clock.GetUtcNow() - claim.StartedAt).TotalSeconds,
                new KeyValuePair<string, object?>(PlatformTags.Tier, command.Tier), new KeyValuePair<string, object?>("platform.task.outcome", outcome));
        }
    }

    /// <summary>Starts the attempt; null when the task is no longer running, or was cancelled here because its batch is being cancelled.</summary>
    async Task<Claimed?> Claim(ExecuteTask command, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var rows = await db.Database.SqlQuery<ClaimRow>($"""
            UPDATE tasks t SET started_at = {now}, attempts = t.attempts + 1, worker = {WorkerName}
            FROM batches b
            WHERE t.task_id = {command.TaskId} AND t.status = 'running' AND b.batch_id = t.batch_id AND b.cancel_requested_at IS NULL
            RETURNING t.key AS "Key", t.input::text AS "Input", b.instructions AS "Instructions", t.attempts AS "Attempts", t.slot AS "Slot"
            """).ToListAsync(cancellationToken);
        if (rows.Count == 0)
        {
            // Dispatched just before its batch's cancellation: it ends here without starting (a no-op if it is not running).
            if (await CommitCancelled(tx, command, now, cancellationToken))
                LogCancelledBeforeStart(logger, command.TaskId);
            else
                LogSkipped(logger, command.TaskId);
            return null;
        }

        var row = rows[0];
        db.Publish(new TaskStarted(command.TaskId, command.BatchId, command.UserId, row.Slot ?? command.Slot, row.Attempts, now));
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return new Claimed(row.Key, row.Instructions, JsonNode.Parse(row.Input) as JsonObject ?? [], row.Attempts, now);
    }

    async Task Complete(ExecuteTask command, Claimed claim, JsonObject result, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var updated = await db.Database.ExecuteSqlAsync($"""
            UPDATE tasks SET status = 'completed', finished_at = {now}, result = {result.ToJsonString()}::jsonb, error = NULL
            WHERE task_id = {command.TaskId} AND status = 'running' AND attempts = {claim.Attempts} AND started_at IS NOT NULL
            """, cancellationToken);
        if (updated == 0)
            return;

        db.Publish(new TaskCompleted(command.TaskId, command.BatchId, command.UserId, command.Slot, claim.StartedAt, now));
        await db.SaveChangesAsync(cancellationToken);

        // The user's row last, just before the commit: every completion of this user's tasks queues on its lock, which
        // is held until the commit, and each of those waits delays the TaskCompleted that frees a slot.
        await Quota.Commit(db, command.UserId, now, cancellationToken);
        await tx.CommitAsync(cancellationToken);
        LogCompleted(logger, command.TaskId, (now - claim.StartedAt).TotalMilliseconds);
    }

    async Task Retry(ExecuteTask command, Claimed claim, ResearchFailedException failure, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var notBefore = now + (failure.RetryAfter ?? Backoff(claim.Attempts));
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);

        // The batch row first, locked: a cancellation takes it before ending the batch's queued tasks, so either it
        // committed and this attempt ends cancelled instead of queued, or it waits and then finds this task queued.
        var cancelRequested = await db.Database.SqlQuery<bool>($"""
            SELECT cancel_requested_at IS NOT NULL AS "Value" FROM batches WHERE batch_id = {command.BatchId} FOR NO KEY UPDATE
            """).ToListAsync(cancellationToken);
        if (cancelRequested.SingleOrDefault())
        {
            if (await CommitCancelled(tx, command, now, cancellationToken))
                LogCancelledInsteadOfRetry(logger, command.TaskId, claim.Attempts);
            return;
        }

        var updated = await db.Database.ExecuteSqlAsync($"""
            UPDATE tasks SET status = 'queued', slot = NULL, not_before = {notBefore}, error = {failure.Message}
            WHERE task_id = {command.TaskId} AND status = 'running' AND attempts = {claim.Attempts} AND started_at IS NOT NULL
            """, cancellationToken);
        if (updated == 0)
            return;

        // The task is queued again: its batch is back in the dispatcher's view.
        await db.Database.ExecuteSqlAsync($"UPDATE batches SET open = true WHERE batch_id = {command.BatchId} AND NOT open", cancellationToken);
        db.Publish(new TaskRetrying(command.TaskId, command.BatchId, command.UserId, claim.Attempts, notBefore, failure.Message, now));
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        LogRetrying(logger, command.TaskId, claim.Attempts, notBefore);
    }

    async Task Cancel(ExecuteTask command, CancellationToken cancellationToken)
    {
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        if (await CommitCancelled(tx, command, clock.GetUtcNow(), cancellationToken))
            LogCancelled(logger, command.TaskId, command.BatchId);
    }

    /// <summary>
    /// Ends the task cancelled (with its quota release and event) and commits; false when it was no longer running, for
    /// the reconciler or a duplicate delivery ended it first.
    /// </summary>
    async Task<bool> CommitCancelled(IDbContextTransaction tx, ExecuteTask command, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var cancelled = await BatchCancellation.EndRunningTasks(db, [command.TaskId], now, cancellationToken);
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return cancelled.Count > 0;
    }

    async Task Fail(ExecuteTask command, Claimed claim, string error, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        var updated = await db.Database.ExecuteSqlAsync($"""
            UPDATE tasks SET status = 'failed', finished_at = {now}, error = {error}
            WHERE task_id = {command.TaskId} AND status = 'running' AND attempts = {claim.Attempts} AND started_at IS NOT NULL
            """, cancellationToken);
        if (updated == 0)
            return;

        db.Publish(new TaskFailed(command.TaskId, command.BatchId, command.UserId, command.Slot, error, claim.Attempts, now));
        await db.SaveChangesAsync(cancellationToken);
        await Quota.Release(db, command.UserId, 1, cancellationToken); // the user's row last, as in Complete
        await tx.CommitAsync(cancellationToken);
        LogFailed(logger, command.TaskId, error);
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

    sealed record ClaimRow(string Key, string Input, string Instructions, int Attempts, int? Slot);

    sealed record Claimed(string Key, string Instructions, JsonObject Input, int Attempts, DateTimeOffset StartedAt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} is no longer running (finished, cancelled or a duplicate delivery): skipped")]
    static partial void LogSkipped(ILogger logger, Guid taskId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Task {TaskId} stage {Stage}")]
    static partial void LogStage(ILogger logger, Guid taskId, string stage);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} completed in {DurationMs:F0} ms")]
    static partial void LogCompleted(ILogger logger, Guid taskId, double durationMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId} attempt {Attempt} failed transiently; retrying not before {NotBefore:O}")]
    static partial void LogRetrying(ILogger logger, Guid taskId, int attempt, DateTimeOffset notBefore);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} of batch {BatchId} cancelled while running")]
    static partial void LogCancelled(ILogger logger, Guid taskId, Guid batchId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} cancelled before it started: its batch is being cancelled")]
    static partial void LogCancelledBeforeStart(ILogger logger, Guid taskId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Task {TaskId} attempt {Attempt} failed transiently; cancelled instead of retried: its batch is being cancelled")]
    static partial void LogCancelledInsteadOfRetry(ILogger logger, Guid taskId, int attempt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Task {TaskId} failed: {Error}")]
    static partial void LogFailed(ILogger logger, Guid taskId, string error);
}
