using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Tiers;

namespace Platform.Intake.Endpoints;

public static class WaitingReasons
{
    /// <summary>The user's slots are all busy.</summary>
    public const string UserSlots = "user_slots";

    /// <summary>The fleet is full, or the task is next in line for a free worker.</summary>
    public const string Fleet = "fleet";

    /// <summary>The credential the task would run on has no budget left for now (DESIGN.md invariant 9).</summary>
    public const string ProviderBudget = "provider_budget";

    /// <summary>An attempt failed and the next one waits for its backoff or the provider's hint.</summary>
    public const string Retry = "retry";

    /// <summary>The batch's cancellation was requested: the task never starts.</summary>
    public const string Cancelling = "cancelling";
}

/// <summary>Why a queued task has not started yet, in words a user can act on.</summary>
public sealed record WaitingFor(
    [property: AllowedValues(WaitingReasons.UserSlots, WaitingReasons.Fleet, WaitingReasons.ProviderBudget, WaitingReasons.Retry, WaitingReasons.Cancelling)] string Reason,
    [property: Description("What the task waits for, in plain words.")] string Detail,
    [property: Description("The task starts no earlier than this; null when it waits for something to free rather than for a time.")] DateTimeOffset? NotBefore = null)
{
    public static WaitingFor Cancelling() =>
        new(WaitingReasons.Cancelling, "the batch is being cancelled; this task will not start");

    public static WaitingFor Retry(int attempts, string? error, DateTimeOffset notBefore, DateTimeOffset now)
    {
        var when = notBefore.UtcDateTime.Date == now.UtcDateTime.Date
            ? notBefore.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture)
            : notBefore.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        var failed = attempts == 0 ? "the task waits"
            : error is null ? $"attempt {attempts} failed"
            : $"attempt {attempts} failed: {Shorten(error)}";
        var next = attempts == 0 ? "it starts" : "the next attempt starts";
        return new(WaitingReasons.Retry, $"{failed}; {next} at {when} UTC at the earliest", notBefore);
    }

    public static WaitingFor UserSlots(int slots) => new(WaitingReasons.UserSlots, slots switch
    {
        0 => "your tier grants no slots at the moment; ask the platform's operator",
        1 => "your only slot is busy; when it frees it starts your next task (your batches take turns)",
        _ => $"all {slots} of your slots are busy; each one that frees starts your next task (your batches take turns)",
    });

    public static WaitingFor FleetFull(int held, int capacity, double fairShare) => new(WaitingReasons.Fleet, capacity == 0
        ? "no worker is running at the moment; the task starts once one joins"
        : string.Create(CultureInfo.InvariantCulture,
            $"the platform is at capacity: you hold {held} of its {capacity} workers, your fair share is {fairShare:0.#}"));

    public static WaitingFor NextInLine() => new(WaitingReasons.Fleet, "about to start: next in line for a free worker");

    /// <summary>An error is the provider's words and can be long: the detail keeps its start.</summary>
    static string Shorten(string error) => error.Length <= 200 ? error : error[..199] + "…";
}

/// <summary>
/// What to say when the credential the user's provider tasks run on has no budget left, and when it refills (DESIGN.md
/// invariant 9; <see cref="CredentialBudgetViews.Of"/>). Simulated tasks never wait for it.
/// </summary>
public sealed record ProviderBudgetWait(string Detail, DateTimeOffset? NotBefore);

/// <summary>
/// Why each queued task of one batch waits, first matching reason first: the batch is being cancelled, the task waits
/// for its retry, the user's slots are busy, the credential's budget is spent, the fleet is full, or nothing (next in
/// line). Read once per request, never per task, and only as far as the page needs: the batch row (already read), the
/// user's row with its tasks in flight (bounded by its slots), the fleet's totals, and the users with work only when
/// the fleet is full (for the fair share).
/// </summary>
public static class TaskWaiting
{
    public static async Task<IReadOnlyDictionary<Guid, WaitingFor>> Of(PlatformDbContext db, Batch batch, IEnumerable<ResearchTask> tasks,
        TierOptions tiers, TimeSpan workerTimeout, DateTimeOffset now, ProviderBudgetWait? providerBudget, CancellationToken cancellationToken)
    {
        var queued = tasks.Where(t => t.Status == TaskStatuses.Queued).ToList();
        var waiting = new Dictionary<Guid, WaitingFor>(queued.Count);
        if (queued.Count == 0)
            return waiting;

        if (batch.CancelRequestedAt is not null)
        {
            foreach (var task in queued)
                waiting[task.TaskId] = WaitingFor.Cancelling();
            return waiting;
        }

        var ready = new List<ResearchTask>(queued.Count);
        foreach (var task in queued)
        {
            if (task.NotBefore is { } notBefore && notBefore > now)
                waiting[task.TaskId] = WaitingFor.Retry(task.Attempts, task.Error, notBefore, now);
            else
                ready.Add(task);
        }

        if (ready.Count == 0)
            return waiting;

        // Everything after a retry is the same for every task of the user: decided once (twice when simulated tasks, which
        // never wait for a budget, sit beside provider ones).
        var calls = providerBudget is null ? [] : ready.Where(t => !Simulated(t)).Select(t => t.TaskId).ToHashSet();
        var shared = calls.Count == ready.Count ? null : await Shared(db, batch.UserId, tiers, workerTimeout, null, cancellationToken);
        var budgeted = calls.Count == 0 ? null : await Shared(db, batch.UserId, tiers, workerTimeout, providerBudget, cancellationToken);
        foreach (var task in ready)
            waiting[task.TaskId] = calls.Contains(task.TaskId) ? budgeted! : shared!;
        return waiting;
    }

    /// <summary>Whether a task calls no provider (its input has a <c>simulate</c> object).</summary>
    public static bool Simulated(ResearchTask task)
    {
        using var input = System.Text.Json.JsonDocument.Parse(task.Input);
        return input.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object && input.RootElement.TryGetProperty("simulate", out _);
    }

    static async Task<WaitingFor> Shared(PlatformDbContext db, string userId, TierOptions tiers, TimeSpan workerTimeout,
        ProviderBudgetWait? providerBudget, CancellationToken cancellationToken)
    {
        var user = await db.Users.AsNoTracking()
            .Where(u => u.UserId == userId)
            .Select(u => new { u.Tier, u.OwnProviderKey, Running = db.Tasks.Count(t => t.UserId == u.UserId && t.Status == TaskStatuses.Running) })
            .SingleAsync(cancellationToken);
        var slots = tiers.Exists(user.Tier) ? tiers.ConcurrencyOf(user.Tier, user.OwnProviderKey) : 0;
        if (user.Running >= slots)
            return WaitingFor.UserSlots(slots);

        if (providerBudget is not null)
            return new WaitingFor(WaitingReasons.ProviderBudget, providerBudget.Detail, providerBudget.NotBefore);

        var (capacity, running) = await Fleet.Totals(db, workerTimeout, cancellationToken);
        if (running < capacity)
            return WaitingFor.NextInLine();

        var share = capacity == 0 ? 0
            : FairShares.OfFleet(capacity, await Fleet.AllUsers(db, tiers, cancellationToken)).GetValueOrDefault(userId);
        return WaitingFor.FleetFull(user.Running, capacity, share);
    }
}
