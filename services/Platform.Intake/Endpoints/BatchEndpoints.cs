using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Platform.Data;
using Platform.Data.Cancellation;
using Platform.Data.Model;
using Platform.Data.Tiers;
using Platform.Intake.Auth;
using Platform.Intake.OpenApi;
using Platform.Intake.Submission;

namespace Platform.Intake.Endpoints;

public sealed record BatchAccepted(Guid BatchId, [property: AllowedValues(BatchStatuses.Queued, BatchStatuses.Running, BatchStatuses.Cancelling, BatchStatuses.Completed, BatchStatuses.CompletedWithFailures, BatchStatuses.Cancelled)] string Status, int Total);

public sealed record BatchCancellationAccepted(Guid BatchId, [property: AllowedValues(BatchStatuses.Queued, BatchStatuses.Running, BatchStatuses.Cancelling, BatchStatuses.Completed, BatchStatuses.CompletedWithFailures, BatchStatuses.Cancelled)] string Status);

public sealed record BatchView(
    Guid BatchId,
    string Name,
    [property: AllowedValues(BatchStatuses.Queued, BatchStatuses.Running, BatchStatuses.Cancelling, BatchStatuses.Completed, BatchStatuses.CompletedWithFailures, BatchStatuses.Cancelled)] string Status,
    int Total,
    int Queued,
    int Running,
    int Completed,
    int Failed,
    int Cancelled,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    [property: Description("Seconds until the batch is done, from the user's recent task durations and slots; null before the first task finished.")] double? EtaSeconds,
    [property: Description("Provider tokens summed over the batch's completed tasks; null when none ran on a provider.")] UsageTotal? Usage = null);

public sealed record TaskView(
    Guid TaskId,
    string Key,
    [property: AllowedValues(TaskStatuses.Queued, TaskStatuses.Running, TaskStatuses.Completed, TaskStatuses.Failed, TaskStatuses.Cancelled)] string Status,
    int Attempts,
    [property: Description("The user's desk (0 to concurrency-1) the task holds while running.")] int? Slot,
    DateTimeOffset QueuedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    [property: Description("The research result (a JSON object), once completed.")] JsonElement? Result,
    [property: Description("Why the task failed, once failed.")] string? Error,
    [property: Description("What the provider counted for the task and the model that answered; null when no provider ran it.")] TaskUsage? Usage = null,
    [property: Description("Why the task has not started yet: `reason` (user_slots, fleet, provider_budget, retry or cancelling), `detail` in " +
        "plain words, and `notBefore` when it waits for a time; null unless the task is queued.")] WaitingFor? WaitingFor = null);

/// <summary>What the provider counted for a task, and the model that answered; absent when no provider ran it.</summary>
public sealed record TaskUsage(int PromptTokens, int CompletionTokens, string? Model);

/// <summary>Provider tokens summed over a batch's completed tasks, or over a user's month.</summary>
public sealed record UsageTotal(long PromptTokens, long CompletionTokens);

public sealed record Page<T>(IReadOnlyList<T> Items, [property: Description("How many items match, over all pages.")] int Total);

public static class BatchEndpoints
{
    public const int MaxPageSize = 1000;
    public const int DefaultPageSize = 100;
    public const int MaxIdempotencyKeyLength = 200;

    public static void MapBatchEndpoints(this IEndpointRouteBuilder app)
    {
        var batches = app.MapGroup("/v1/batches").RequireAuthorization(IntakeExtensions.UserPolicy).WithTags("batches");
        const string NotFound = "No such batch, or another user's (answered exactly alike; problem type `https://platform.local/problems/not-found`).";
        const string BadId = "`batchId` is not a GUID; `errors` names it.";
        const string BadPage = "`offset` or `limit` out of range (`limit` 1 to 1000); `errors` names the parameter.";
        var batchId = Guid.Parse("0193a5b2-7c4e-7d1a-9f3b-2a6c8e0d4f17");

        batches.MapPost("/", Submit)
            .WithSummary("Submit a batch")
            .WithDescription("Queues a batch of research tasks and answers at once. Each task's `input` fills the `{placeholders}` of the " +
                "`instructions`. The whole batch is reserved against the monthly quota. With an `Idempotency-Key`, a repeat with the " +
                "same body answers the first answer again; with another body, 409.")
            .ReadsJsonBody(new BatchRequest
            {
                Name = "companies",
                Instructions = "Research {company}: founding year, HQ",
                Tasks =
                [
                    new TaskRequest { Key = "acme", Input = new System.Text.Json.Nodes.JsonObject { ["company"] = "Acme Corp" } },
                    new TaskRequest { Key = "globex", Input = new System.Text.Json.Nodes.JsonObject { ["company"] = "Globex" } },
                ],
            })
            .Answers(StatusCodes.Status202Accepted, "Accepted: the batch is queued; `Location` is the batch's URL.", new BatchAccepted(batchId, BatchStatuses.Queued, 2))
            .FieldProblem(StatusCodes.Status400BadRequest,
                "The batch is invalid: `errors` maps each field (as spelled in the body, e.g. `tasks[3].key`) to what is wrong, naming the limit " +
                "(tasks per batch, bytes per task input, lengths); or an `Idempotency-Key` longer than 200 characters.",
                EndpointDocs.ProblemExample("validation", 400, "The request is invalid", "tasks[1].input.company",
                    "input.company is required by the instructions' placeholder {company}"))
            .Problem(StatusCodes.Status409Conflict, "The `Idempotency-Key` was used before with another body (problem type `https://platform.local/problems/conflict`).")
            .FieldProblem(StatusCodes.Status422UnprocessableEntity,
                "The batch does not fit in the remaining monthly quota (problem type `https://platform.local/problems/quota-exceeded`, " +
                "with `remainingQuota` and `monthlyQuota`).",
                EndpointDocs.ProblemExample("quota-exceeded", 422, "Monthly quota exceeded", "tasks",
                    "this batch has 60 tasks but only 20 of this month's quota of 50 tasks remain", ("remainingQuota", 20), ("monthlyQuota", 50)));

        batches.MapGet("/", List)
            .WithSummary("List the caller's batches")
            .WithDescription("The caller's batches, newest first, with their live counters.")
            .Answers<Page<BatchView>>(StatusCodes.Status200OK, "A page of batches.")
            .FieldProblem(StatusCodes.Status400BadRequest, BadPage);

        // No :guid route constraint: an id that is not a GUID fails to bind and is answered 400 naming batchId, where
        // the constraint would answer a bare 404 that reads as "no such batch".
        batches.MapGet("/{batchId}", Get)
            .WithSummary("Get a batch's progress")
            .WithDescription("Counters per task status, timestamps and an ETA, live.")
            .Answers(StatusCodes.Status200OK, "The batch.", new BatchView(batchId, "companies", BatchStatuses.Running, 100, 80, 10, 9, 1, 0,
                new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 12, 1, 9, 0, 0, 120, TimeSpan.Zero), null, 135.5))
            .FieldProblem(StatusCodes.Status400BadRequest, BadId)
            .Problem(StatusCodes.Status404NotFound, NotFound);

        batches.MapGet("/{batchId}/tasks", Tasks)
            .WithSummary("List a batch's tasks")
            .WithDescription("The batch's tasks in submission order, optionally of one status; each task's result is there the moment it completes, " +
                "and each queued task says what it waits for (`waitingFor`): the batch's cancellation, its retry's time, the caller's busy slots, " +
                "or the shared fleet (full, with the caller's fair share of it, or next in line).")
            .Answers(StatusCodes.Status200OK, "A page of tasks.", new Page<TaskView>(
                [
                    new TaskView(Guid.Parse("0193a5b2-7c4f-7e00-8a11-3c5d7e9f0a21"), "acme", TaskStatuses.Completed, 1, null,
                        new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 12, 1, 9, 0, 0, 150, TimeSpan.Zero),
                        new DateTimeOffset(2026, 12, 1, 9, 0, 4, 900, TimeSpan.Zero),
                        JsonElement.Parse("""{"answer":"Founded in 1947, HQ in Springfield","confidence":0.8}"""), null,
                        new TaskUsage(412, 96, "gpt-4o-mini")),
                    new TaskView(Guid.Parse("0193a5b2-7c4f-7e00-8a11-3c5d7e9f0a22"), "globex", TaskStatuses.Queued, 1, null,
                        new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 12, 1, 9, 0, 0, 150, TimeSpan.Zero),
                        null, null, "the provider's rate limit was reached (429 rate_limit_exceeded)",
                        WaitingFor: WaitingFor.Retry(1, "the provider's rate limit was reached (429 rate_limit_exceeded)",
                            new DateTimeOffset(2026, 12, 1, 9, 0, 5, TimeSpan.Zero), new DateTimeOffset(2026, 12, 1, 9, 0, 3, TimeSpan.Zero))),
                    new TaskView(Guid.Parse("0193a5b2-7c4f-7e00-8a11-3c5d7e9f0a23"), "initech", TaskStatuses.Queued, 0, null,
                        new DateTimeOffset(2026, 12, 1, 9, 0, 0, TimeSpan.Zero), null, null, null, null,
                        WaitingFor: WaitingFor.FleetFull(12, 32, 12.7)),
                ], 3))
            .FieldProblem(StatusCodes.Status400BadRequest, BadPage + " Or an unknown `status`, or " + BadId)
            .Problem(StatusCodes.Status404NotFound, NotFound);

        batches.MapDelete("/{batchId}", Cancel)
            .WithSummary("Cancel a batch")
            .WithDescription("Queued tasks never start; running ones are told to stop. Repeating the request answers 202 again.")
            .Answers(StatusCodes.Status202Accepted, "Cancellation requested (status `cancelling` until the last running task has stopped).",
                new BatchCancellationAccepted(batchId, BatchStatuses.Cancelling))
            .FieldProblem(StatusCodes.Status400BadRequest, BadId)
            .Problem(StatusCodes.Status404NotFound, NotFound)
            .Problem(StatusCodes.Status409Conflict,
                "The batch had already finished (problem type `https://platform.local/problems/batch-finished`, with `batchStatus`).");
    }

    static async Task<IResult> Submit(BatchRequest request, HttpContext http, BatchSubmission submission,
        [FromHeader(Name = "Idempotency-Key"), Description("At most 200 characters. A repeat with the same key and body answers the first answer.")] string? idempotencyKey, CancellationToken cancellationToken)
    {
        if (idempotencyKey is not null && IdempotencyKeyError(idempotencyKey) is { } keyError)
            return Problems.Field("Idempotency-Key", keyError);

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
        [Description("Items to skip (default 0).")] int? offset, [Description("Page size, 1 to 1000 (default 100).")] int? limit,
        CancellationToken cancellationToken)
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

    static async Task<IResult> Tasks(Guid batchId, HttpContext http, PlatformDbContext db, IOptionsMonitor<TierOptions> tiers,
        IOptions<FleetOptions> fleetOptions, IOptions<BudgetOptions> budgetOptions, TimeProvider clock,
        [Description("Only tasks of this status: queued, running, completed, failed or cancelled.")] string? status,
        [Description("Items to skip (default 0).")] int? offset, [Description("Page size, 1 to 1000 (default 100).")] int? limit,
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
        // The credential's budget is read only when the page has a queued task that calls a provider.
        var now = clock.GetUtcNow();
        var budgetWait = rows.Any(t => t.Status == TaskStatuses.Queued && !TaskWaiting.Simulated(t))
            ? await CredentialBudgetViews.Of(db, batch.UserId, budgetOptions.Value.EstimatedTokens, now, cancellationToken)
            : null;
        var waiting = await TaskWaiting.Of(db, batch, rows, tiers.CurrentValue, fleetOptions.Value.WorkerTimeout, now,
            budgetWait is null ? null : new ProviderBudgetWait(budgetWait.Detail, budgetWait.NotBefore), cancellationToken);
        var items = rows.Select(t => new TaskView(t.TaskId, t.Key, t.Status, t.Attempts, t.Slot, t.QueuedAt, t.StartedAt, t.FinishedAt,
            t.Result is null ? null : JsonDocument.Parse(t.Result).RootElement.Clone(), t.Error,
            t.PromptTokens is null ? null : new TaskUsage(t.PromptTokens.Value, t.CompletionTokens ?? 0, t.Model),
            waiting.GetValueOrDefault(t.TaskId))).ToList();
        return Results.Ok(new Page<TaskView>(items, total));
    }

    /// <summary>The caller's own batch; another user's batch is indistinguishable from a missing one (404).</summary>
    internal static Task<Batch?> FindOwn(PlatformDbContext db, HttpContext http, Guid batchId, CancellationToken cancellationToken)
    {
        var userId = http.User.UserId();
        return db.Batches.AsNoTracking().SingleOrDefaultAsync(b => b.BatchId == batchId && b.UserId == userId, cancellationToken);
    }

    /// <summary>Visible ASCII only: the key is compared byte for byte, and invisible or look-alike characters would make two keys that read the same differ.</summary>
    static string? IdempotencyKeyError(string key) =>
        key.Length is 0 or > MaxIdempotencyKeyLength
            ? $"Idempotency-Key must be 1 to {MaxIdempotencyKeyLength} characters; got {key.Length}"
            : key.Any(c => c is < '!' or > '~')
                ? "Idempotency-Key must be visible ASCII characters ('!' to '~', no spaces), such as a UUID"
                : null;

    static IResult? PageError(int? offset, int? limit) =>
        offset < 0 ? Problems.Field("offset", $"offset must be an integer from 0 to {int.MaxValue}; got {offset}")
        : limit is < 1 or > MaxPageSize ? Problems.Field("limit", $"limit must be an integer from 1 to {MaxPageSize}; got {limit}")
        : null;
}
