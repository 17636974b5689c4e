using System.Data.Common;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FluentValidation;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using Platform.Contracts;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Tiers;
using Platform.ServiceDefaults;

namespace Platform.Intake.Submission;

public abstract record SubmissionResult
{
    public sealed record Accepted(Guid BatchId, int Total, bool Replayed) : SubmissionResult;

    public sealed record Invalid(IDictionary<string, string[]> Errors) : SubmissionResult;

    public sealed record QuotaExceeded(int Requested, int Remaining, int MonthlyQuota) : SubmissionResult;

    /// <summary>The idempotency key (or batch id) was used before with a different request.</summary>
    public sealed record Conflict(Guid BatchId, string Reason) : SubmissionResult;

    public sealed record UnknownUser(string UserId) : SubmissionResult;
}

/// <summary>
/// The one way a batch enters the system, over HTTP or the bus: validate, reserve quota, and write the batch, its
/// task rows and its BatchSubmitted message (outbox) in one transaction. Either all of it exists, or none. The work per
/// submission grows only with the batch's size: one statement for all the task rows, one outbox row for the batch.
/// </summary>
public sealed partial class BatchSubmission(
    PlatformDbContext db,
    BatchRequestValidator validator,
    IOptionsMonitor<TierOptions> tiers,
    TimeProvider clock,
    ILogger<BatchSubmission> logger)
{
    public async Task<SubmissionResult> Submit(string userId, Guid batchId, BatchRequest request, string? idempotencyKey,
        CancellationToken cancellationToken)
    {
        // The batch's trace: every task row and outbox message written below carries this span's context.
        using var activity = SubmissionTelemetry.Source.StartActivity("submit batch").Tag(userId, batchId);
        activity?.SetTag("platform.batch.tasks", request.Tasks?.Count);
        using var scope = new MessageIds(userId, batchId, null).BeginScope(logger);

        var result = await Write(userId, batchId, request, idempotencyKey, cancellationToken);
        activity?.SetTag("platform.submission.result", result.GetType().Name);
        if (result is SubmissionResult.Accepted { Replayed: true })
            activity?.SetTag("platform.submission.replayed", true);
        return result;
    }

    async Task<SubmissionResult> Write(string userId, Guid batchId, BatchRequest request, string? idempotencyKey,
        CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var validation = await validator.ValidateAsync(request, cancellationToken);
        if (!validation.IsValid)
            return new SubmissionResult.Invalid(validation.ToDictionary());

        var requestHash = Hash(request);
        if (await Replay(userId, batchId, idempotencyKey, requestHash, cancellationToken) is { } replay)
            return replay;
        var checkedAt = Stopwatch.GetTimestamp();

        var now = clock.GetUtcNow();
        // Validated: no element is null.
        var tasks = request.Tasks!.Select(t => t!).ToList();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);

        var user = await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.UserId == userId, cancellationToken);
        if (user is null)
            return new SubmissionResult.UnknownUser(userId);

        if (await Reserve(user, tasks.Count, now, cancellationToken) is { } refused)
            return refused;

        db.Batches.Add(new Batch
        {
            BatchId = batchId,
            UserId = userId,
            Name = request.Name!,
            Instructions = request.Instructions!,
            Total = tasks.Count,
            CreatedAt = now,
            IdempotencyKey = idempotencyKey,
            RequestHash = requestHash,
            Open = true,
        });

        // The task rows in one statement: a 10,000-task batch costs one round trip, not 10,000 tracked entities. (Binary
        // COPY measured no cheaper, in the intake or in PostgreSQL: the rows' indexes are most of the cost.) No
        // notification per task: BatchSubmitted, with its Total, announces them all (issue 17).
        var traceParent = Activity.Current?.Id;
        await db.Database.ExecuteSqlAsync($"""
            INSERT INTO tasks (task_id, batch_id, user_id, seq, key, input, status, attempts, queued_at, counted, trace_parent)
            SELECT t.task_id, {batchId}, {userId}, t.seq - 1, t.key, t.input::jsonb, {TaskStatuses.Queued}, 0, {now}, false, {traceParent}
            FROM unnest({tasks.Select(_ => Guid.CreateVersion7(now)).ToArray()}, {tasks.Select(t => t.Key!).ToArray()},
                        {tasks.Select(t => t.Input!.ToJsonString()).ToArray()}) WITH ORDINALITY AS t(task_id, key, input, seq)
            """, cancellationToken);
        var writtenAt = Stopwatch.GetTimestamp();
        db.Publish(new BatchSubmitted(batchId, userId, request.Name!, tasks.Count, now));

        try
        {
            await db.SaveChangesAsync(cancellationToken);
            await tx.CommitAsync(cancellationToken);
        }
        catch (DbUpdateException ex) when (ex.InnerException is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation })
        {
            // A concurrent submission with the same idempotency key or batch id won; answer as it was answered.
            await tx.RollbackAsync(cancellationToken);
            db.ChangeTracker.Clear();
            return await Replay(userId, batchId, idempotencyKey, requestHash, cancellationToken)
                ?? throw new InvalidOperationException("Unique violation on submission, but no earlier batch was found.", ex);
        }

        // In fair share's view at once, so the next unit that frees can be this user's, whatever the relay of the batch's
        // events is busy with. Its own transaction, after the batch's: a big batch holds no row a dispatch decision needs.
        // Should it fail, the decision for BatchSubmitted marks the user ready as well: the batch is accepted either way.
        try
        {
            await UserShares.MarkReady(db, tiers.CurrentValue, userId, cancellationToken);
        }
        catch (Exception ex) when (ex is DbException or InvalidOperationException)
        {
            LogNotMarkedReady(logger, ex, userId, batchId);
        }

        LogAccepted(logger, batchId, tasks.Count, Stopwatch.GetElapsedTime(started, checkedAt).TotalMilliseconds,
            Stopwatch.GetElapsedTime(checkedAt, writtenAt).TotalMilliseconds, Stopwatch.GetElapsedTime(writtenAt).TotalMilliseconds);
        SubmissionTelemetry.TasksAccepted.Add(tasks.Count, new KeyValuePair<string, object?>(PlatformTags.Tier, user.Tier));
        return new SubmissionResult.Accepted(batchId, tasks.Count, Replayed: false);
    }

    // Where a submission's time goes (issue 17); docs/benchmark.md has the figures.
    [LoggerMessage(Level = LogLevel.Debug, Message = "Batch {BatchId} accepted, {Tasks} tasks: checked in {CheckMs:0.0} ms (validation, idempotency), " +
        "written in {WriteMs:0.0} ms (quota, rows), committed and marked ready in {CommitMs:0.0} ms")]
    static partial void LogAccepted(ILogger logger, Guid batchId, int tasks, double checkMs, double writeMs, double commitMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Batch {BatchId} is accepted, but user {UserId} could not be marked ready at once; the dispatcher's decision for the batch will")]
    static partial void LogNotMarkedReady(ILogger logger, Exception exception, string userId, Guid batchId);

    /// <summary>Atomically reserves quota: one conditional UPDATE, so concurrent batches can never both slip past.</summary>
    async Task<SubmissionResult?> Reserve(User user, int count, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var quota = tiers.CurrentValue.Get(user.Tier).MonthlyQuota;
        if (await Quota.TryReserve(db, user.UserId, count, quota, now, cancellationToken))
            return null;

        SubmissionTelemetry.QuotaRefusals.Add(1, new KeyValuePair<string, object?>(PlatformTags.Tier, user.Tier));
        var current = await db.Users.AsNoTracking().SingleAsync(u => u.UserId == user.UserId, cancellationToken);
        var used = current.QuotaMonth == Quota.Month(now) ? current.UsedThisMonth : 0;
        return new SubmissionResult.QuotaExceeded(count, Math.Max(0, quota!.Value - used - current.Reserved), quota.Value);
    }

    async Task<SubmissionResult?> Replay(string userId, Guid batchId, string? idempotencyKey, string requestHash, CancellationToken cancellationToken)
    {
        var earlier = idempotencyKey is null
            ? await db.Batches.AsNoTracking().SingleOrDefaultAsync(b => b.BatchId == batchId, cancellationToken)
            : await db.Batches.AsNoTracking().SingleOrDefaultAsync(b => b.UserId == userId && b.IdempotencyKey == idempotencyKey, cancellationToken);
        if (earlier is null)
            return null;

        if (earlier.UserId != userId || earlier.RequestHash != requestHash)
        {
            return new SubmissionResult.Conflict(earlier.BatchId, idempotencyKey is null
                ? $"batch {batchId} was already submitted with a different request"
                : $"Idempotency-Key '{idempotencyKey}' was already used for a different request (batch {earlier.BatchId})");
        }

        return new SubmissionResult.Accepted(earlier.BatchId, earlier.Total, Replayed: true);
    }

    /// <summary>
    /// SHA-256 of the request's JSON, streamed into the hash rather than built as one array (a 10,000-task body is most
    /// of a MiB). The same bytes as before, so a key used before an upgrade still replays after it.
    /// </summary>
    internal static string Hash(BatchRequest request)
    {
        using var hash = new HashingStream();
        JsonSerializer.Serialize(hash, request);
        return Convert.ToHexStringLower(hash.Hash.GetHashAndReset());
    }

    sealed class HashingStream : Stream
    {
        public IncrementalHash Hash { get; } = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public override void Write(byte[] buffer, int offset, int count) => Hash.AppendData(buffer, offset, count);

        public override void Write(ReadOnlySpan<byte> buffer) => Hash.AppendData(buffer);

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                Hash.Dispose();
            base.Dispose(disposing);
        }
    }
}

public static class SubmissionText
{
    public static string Describe(SubmissionResult.QuotaExceeded q) =>
        $"this batch has {q.Requested} tasks but only {q.Remaining} of this month's quota of {q.MonthlyQuota} tasks remain";
}
