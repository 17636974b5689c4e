using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Platform.Data;
using Platform.Data.Cancellation;
using Platform.Data.Model;
using Platform.Data.Tiers;
using Platform.Intake.Auth;
using Platform.Intake.Submission;

namespace Platform.Intake.Endpoints;

public sealed record BatchAccepted(Guid BatchId, string Status, int Total);

public sealed record BatchCancellationAccepted(Guid BatchId, string Status);

public sealed record BatchView(
    Guid BatchId,
    string Name,
    string Status,
    int Total,
    int Queued,
    int Running,
    int Completed,
    int Failed,
    int Cancelled,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    double? EtaSeconds,
    UsageTotal? Usage = null);

public sealed record TaskView(
    Guid TaskId,
    string Key,
    string Status,
    int Attempts,
    int? Slot,
    DateTimeOffset QueuedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    JsonElement? Result,
    string? Error,
    TaskUsage? Usage = null);

/// <summary>What the provider counted for a task, and the model that answered; absent when no provider ran it.</summary>
public sealed record TaskUsage(int PromptTokens, int CompletionTokens, string? Model);

/// <summary>Provider tokens summed over a batch's completed tasks, or over a user's month.</summary>
public sealed record UsageTotal(long PromptTokens, long CompletionTokens);

public sealed record Page<T>(IReadOnlyList<T> Items, int Total);

public static class BatchEndpoints
{
    public const int MaxPageSize = 1000;
    public const int DefaultPageSize = 100;

    public static void MapBatchEndpoints(this IEndpointRouteBuilder app)
    {
        var batches = app.MapGroup("/v1/batches").RequireAuthorization(IntakeExtensions.UserPolicy);
        batches.MapPost("/", Submit);
        batches.MapGet("/", List);
        batches.MapGet("/{batchId:guid}", Get);
        batches.MapGet("/{batchId:guid}/tasks", Tasks);
        batches.MapDelete("/{batchId:guid}", Cancel);
    }

    static async Task<IResult> Submit(BatchRequest request, HttpContext http, BatchSubmission submission,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey, CancellationToken cancellationToken)
    {
        if (idempotencyKey is { Length: > 200 })
            return Problems.Field("Idempotency-Key", $"Idempotency-Key must be at most 200 characters; got {idempotencyKey.Length}");

        var userId = http.User.UserId()!;
        var result = await submission.Submit(userId, Guid.CreateVersion7(), request, idempotencyKey, cancellationToken);
        return result switch
        {
            SubmissionResult.Accepted a => Results.Accepted($"/v1/batches/{a.BatchId}", new BatchAccepted(a.BatchId, "queued", a.Total)),
            SubmissionResult.Invalid i => Problems.Validation(i.Errors),
            SubmissionResult.QuotaExceeded q => Problems.QuotaExceeded(SubmissionText.Describe(q), q.Remaining, q.MonthlyQuota),
            SubmissionResult.Conflict c => Problems.Conflict(c.Reason),
            SubmissionResult.UnknownUser u => Problems.NotFound($"user '{u.UserId}' does not exist"),
            _ => throw new InvalidOperationException($"Unexpected submission result {result}"),
        };
    }

    static async Task<IResult> List(HttpContext http, PlatformDbContext db, IOptionsMonitor<TierOptions> tiers,
        int? offset, int? limit, CancellationToken cancellationToken)
    {
        if (PageError(offset, limit) is { } error)
            return error;

        var userId = http.User.UserId()!;
        var query = db.Batches.AsNoTracking().Where(b => b.UserId == userId);
        var total = await query.CountAsync(cancellationToken);
        var page = await query.OrderByDescending(b => b.CreatedAt)
            .Skip(offset ?? 0).Take(limit ?? DefaultPageSize).ToListAsync(cancellationToken);
        var views = new List<BatchView>(page.Count);
        foreach (var batch in page)
            views.Add(await BatchProgress.View(db, batch, tiers.CurrentValue, cancellationToken));
        return Results.Ok(new Page<BatchView>(views, total));
    }

    static async Task<IResult> Get(Guid batchId, HttpContext http, PlatformDbContext db, IOptionsMonitor<TierOptions> tiers,
        CancellationToken cancellationToken)
    {
        var batch = await FindOwn(db, http, batchId, cancellationToken);
        return batch is null
            ? Problems.NotFound($"batch {batchId} does not exist")
            : Results.Ok(await BatchProgress.View(db, batch, tiers.CurrentValue, cancellationToken));
    }

    /// <summary>
    /// Cancels the batch: its queued tasks never start, its running ones are told to stop. 202 once requested (and on
    /// every repeat); 409 when the batch had already finished; 404 for an unknown or another user's batch.
    /// </summary>
    static async Task<IResult> Cancel(Guid batchId, HttpContext http, PlatformDbContext db, TimeProvider clock, CancellationToken cancellationToken)
    {
        var outcome = await BatchCancellation.Request(db, batchId, http.User.UserId()!, clock.GetUtcNow(), cancellationToken);
        if (outcome is CancelOutcome.NotFound)
            return Problems.NotFound($"batch {batchId} does not exist");
        if (outcome is CancelOutcome.AlreadyFinished finished)
            return Problems.AlreadyFinished(batchId, finished.Status);

        var batch = await db.Batches.AsNoTracking().SingleAsync(b => b.BatchId == batchId, cancellationToken);
        var saga = await db.BatchStates.AsNoTracking().SingleOrDefaultAsync(s => s.CorrelationId == batchId, cancellationToken);
        return Results.Accepted($"/v1/batches/{batchId}", new BatchCancellationAccepted(batchId, BatchProgress.StatusOf(batch, saga?.CurrentState)));
    }

    static async Task<IResult> Tasks(Guid batchId, HttpContext http, PlatformDbContext db, string? status, int? offset, int? limit,
        CancellationToken cancellationToken)
    {
        if (PageError(offset, limit) is { } error)
            return error;
        if (status is not null && !TaskStatuses.All.Contains(status))
            return Problems.Field("status", $"status '{status}' is unknown: use one of {string.Join(", ", TaskStatuses.All)}");

        var batch = await FindOwn(db, http, batchId, cancellationToken);
        if (batch is null)
            return Problems.NotFound($"batch {batchId} does not exist");

        var query = db.Tasks.AsNoTracking().Where(t => t.BatchId == batchId);
        if (status is not null)
            query = query.Where(t => t.Status == status);
        var total = await query.CountAsync(cancellationToken);
        var rows = await query.OrderBy(t => t.Seq).Skip(offset ?? 0).Take(limit ?? DefaultPageSize).ToListAsync(cancellationToken);
        var items = rows.Select(t => new TaskView(t.TaskId, t.Key, t.Status, t.Attempts, t.Slot, t.QueuedAt, t.StartedAt, t.FinishedAt,
            t.Result is null ? null : JsonDocument.Parse(t.Result).RootElement.Clone(), t.Error,
            t.PromptTokens is null ? null : new TaskUsage(t.PromptTokens.Value, t.CompletionTokens ?? 0, t.Model))).ToList();
        return Results.Ok(new Page<TaskView>(items, total));
    }

    /// <summary>The caller's own batch; another user's batch is indistinguishable from a missing one (404).</summary>
    internal static Task<Batch?> FindOwn(PlatformDbContext db, HttpContext http, Guid batchId, CancellationToken cancellationToken)
    {
        var userId = http.User.UserId();
        return db.Batches.AsNoTracking().SingleOrDefaultAsync(b => b.BatchId == batchId && b.UserId == userId, cancellationToken);
    }

    static IResult? PageError(int? offset, int? limit) =>
        offset < 0 ? Problems.Field("offset", "offset must be 0 or more")
        : limit is < 1 or > MaxPageSize ? Problems.Field("limit", $"limit must be between 1 and {MaxPageSize}; got {limit}")
        : null;
}
