using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Microsoft.EntityFrameworkCore;
using Npgsql;
using Platform.Data.Model;

namespace Platform.Data;

/// <summary>What a dispatch reserves of a provider budget before the user's own calls have said (docs/fair-share.md).</summary>
public sealed class BudgetOptions
{
    public const string Section = "Platform:Provider";

    /// <summary>
    /// Tokens a task's call is taken to hold of its credential's budget until its user's calls have been counted: a prompt
    /// plus the answer's ceiling (<c>MaxOutputTokens</c>), which is what OpenAI-like providers count while a call runs.
    /// </summary>
    [Range(1, 10_000_000)]
    public int EstimatedTokens { get; set; } = 1500;
}

/// <summary>
/// A provider credential's budget as the trailing minute's requests and tokens, reserved and used (<see cref="CredentialBudget"/>).
/// Each statement drains what it finds by the time since it was last written (<c>budget_held</c>, the one definition in
/// SQL), then adds or gives back: a dispatch reserves one request and its estimate, the task's end settles the tokens to
/// what the provider counted, a 429 pauses the credential until the provider's reset. Docs: docs/fair-share.md,
/// "Provider budgets".
/// </summary>
public static class CredentialBudgets
{
    /// <summary>A budget's room for a task right now: null when its limit is unknown (nothing is held back).</summary>
    public static (double? Requests, double? Tokens) Room(CredentialBudget budget, DateTimeOffset now) =>
        (budget.Rpm - Held(budget.Requests, budget.Rpm, budget.RefilledAt, now), budget.Tpm - Held(budget.Tokens, budget.Tpm, budget.RefilledAt, now));

    /// <summary><c>budget_held</c> in C#, for views and tests; the statements use the SQL one.</summary>
    public static double Held(double held, int? perMinute, DateTimeOffset since, DateTimeOffset at)
    {
        var seconds = Math.Max(0, (at - since).TotalSeconds);
        return perMinute is null
            ? Math.Max(0, held * (1 - Math.Min(1, seconds / 60)))
            : Math.Max(0, held - seconds * perMinute.Value / 60.0);
    }

    /// <summary>
    /// Reserves, per credential, the requests and tokens a decision's picks take (creating a user key's budget at its first
    /// task). Part of the decision's commit, under the fleet's lock, and before any batch row (the lock order of a 429's pause).
    /// </summary>
    public static NpgsqlBatchCommand ReserveStatement(IReadOnlyList<(Guid Credential, int Requests, double Tokens)> reservations, DateTimeOffset now) =>
        Statements.Statement("""
            INSERT INTO credential_budgets AS b (credential_id, requests, tokens, refilled_at, limits_configured)
            SELECT r.credential_id, r.requests, r.tokens, $4, false
            FROM unnest($1::uuid[], $2::int[], $3::float8[]) AS r(credential_id, requests, tokens)
            ORDER BY r.credential_id
            ON CONFLICT (credential_id) DO UPDATE SET
              requests = budget_held(b.requests, b.rpm, b.refilled_at, $4) + excluded.requests,
              tokens = budget_held(b.tokens, b.tpm, b.refilled_at, $4) + excluded.tokens,
              refilled_at = greatest(b.refilled_at, $4)
            """,
            reservations.Select(r => r.Credential).ToArray(), reservations.Select(r => r.Requests).ToArray(),
            reservations.Select(r => r.Tokens).ToArray(), now);

    /// <summary>
    /// A task's call ended: its reservation's tokens become what the provider counted (<paramref name="usedTokens"/>; null
    /// when unknown, and then the estimate stays), the limits the provider's headers told are learned unless configured, and
    /// the user's estimate moves towards what this call held (<paramref name="heldTokens"/>). The request stays counted: it
    /// was sent. Where the provider's <c>x-ratelimit-remaining-*</c> say it holds more than this budget does (another client
    /// on the key, calls this budget did not see), the budget takes the provider's figure: it never believes in more room
    /// than the provider has. Goes with the task's end, after the fleet's lock; a task that reserved nothing (simulated) changes nothing.
    /// </summary>
    public static IEnumerable<NpgsqlBatchCommand> SettleStatements(Guid taskId, int? usedTokens, int? heldTokens, ProviderLimits? learned, DateTimeOffset now)
    {
        yield return Statements.Statement("""
            UPDATE credential_budgets b SET
              tokens = greatest(0, budget_held(b.tokens, b.tpm, b.refilled_at, $3) + coalesce($2, t.reserved_tokens) - t.reserved_tokens,
                                b.tpm - $7),
              requests = greatest(budget_held(b.requests, b.rpm, b.refilled_at, $3), b.rpm - $6),
              refilled_at = greatest(b.refilled_at, $3),
              rpm = CASE WHEN b.limits_configured AND b.rpm IS NOT NULL THEN b.rpm ELSE coalesce($4, b.rpm) END,
              tpm = CASE WHEN b.limits_configured AND b.tpm IS NOT NULL THEN b.tpm ELSE coalesce($5, b.tpm) END
            FROM tasks t
            WHERE t.task_id = $1 AND b.credential_id = t.budget_credential_id
            """, taskId, usedTokens, now, learned?.Rpm, learned?.Tpm, learned?.RemainingRequests,
            // The provider's remaining tokens counted this call at its ceiling; it has given back the difference since.
            learned?.RemainingTokens + (heldTokens - usedTokens));
        if (heldTokens is not null)
        {
            yield return Statements.Statement("""
                UPDATE user_shares s SET mean_tokens = CASE WHEN s.mean_tokens IS NULL THEN $2 ELSE 0.8 * s.mean_tokens + 0.2 * $2 END
                FROM tasks t WHERE t.task_id = $1 AND s.user_id = t.user_id
                """, taskId, (double)heldTokens.Value);
        }
    }

    /// <summary>
    /// The provider answered the task's call 429 (rate limited): the credential gets no dispatch until
    /// <paramref name="until"/>, the provider's reset, and the reservation's tokens go back (the provider took none; the
    /// request stays counted). The first statement of the worker's retry transaction: a budget row is always locked before
    /// any batch row.
    /// </summary>
    public static NpgsqlBatchCommand PauseStatement(Guid taskId, DateTimeOffset until, ProviderLimits? learned, DateTimeOffset now) => Statements.Statement("""
        UPDATE credential_budgets b SET
          tokens = greatest(0, budget_held(b.tokens, b.tpm, b.refilled_at, $3) - coalesce(t.reserved_tokens, 0)),
          requests = budget_held(b.requests, b.rpm, b.refilled_at, $3),
          refilled_at = greatest(b.refilled_at, $3),
          paused_until = greatest(b.paused_until, $2),
          rpm = CASE WHEN b.limits_configured AND b.rpm IS NOT NULL THEN b.rpm ELSE coalesce($4, b.rpm) END,
          tpm = CASE WHEN b.limits_configured AND b.tpm IS NOT NULL THEN b.tpm ELSE coalesce($5, b.tpm) END
        FROM tasks t
        WHERE t.task_id = $1 AND b.credential_id = t.budget_credential_id
        """, taskId, until, now, learned?.Rpm, learned?.Tpm);

    /// <summary>
    /// The platform's credential as this worker is configured: its limits when configured (they win over what headers
    /// say; unset, what was learned stays), and its key's hint.
    /// </summary>
    public static NpgsqlBatchCommand ConfigureStatement(int? rpm, int? tpm, string? keyHint, DateTimeOffset now) => Statements.Statement("""
        INSERT INTO credential_budgets AS b (credential_id, rpm, tpm, limits_configured, requests, tokens, refilled_at, key_hint)
        VALUES ($1, $2, $3, $2 IS NOT NULL OR $3 IS NOT NULL, 0, 0, $4, $5)
        ON CONFLICT (credential_id) DO UPDATE SET
          rpm = CASE WHEN excluded.limits_configured THEN excluded.rpm ELSE b.rpm END,
          tpm = CASE WHEN excluded.limits_configured THEN excluded.tpm ELSE b.tpm END,
          limits_configured = excluded.limits_configured, key_hint = excluded.key_hint
        """, CredentialBudget.PlatformCredential, rpm, tpm, now, keyHint);
}

/// <summary>One credential's budget as the admin's fleet view shows it: the trailing minute's requests and tokens, reserved and used.</summary>
public sealed record CredentialBudgetView(Guid CredentialId, string? KeyHint, int? Rpm, int? Tpm, int RequestsUsed, int TokensUsed, DateTimeOffset? PausedUntil);

/// <summary>Why a user's provider tasks wait for their credential's budget, and until when.</summary>
public sealed record BudgetWait(string Detail, DateTimeOffset NotBefore);

public static class CredentialBudgetViews
{
    /// <summary>The platform's credential first, then users' keys by tokens held; at most <paramref name="limit"/>.</summary>
    public static async Task<IReadOnlyList<CredentialBudgetView>> Read(PlatformDbContext db, int limit, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var rows = await (from b in db.CredentialBudgets.AsNoTracking()
                          join k in db.ProviderKeys.AsNoTracking() on b.CredentialId equals k.CredentialId into keys
                          from k in keys.DefaultIfEmpty()
                          select new { Budget = b, Hint = k != null ? k.KeyHint : b.KeyHint }).ToListAsync(cancellationToken);
        return rows
            .Select(r => new CredentialBudgetView(r.Budget.CredentialId, r.Hint, r.Budget.Rpm, r.Budget.Tpm,
                (int)Math.Ceiling(CredentialBudgets.Held(r.Budget.Requests, r.Budget.Rpm, r.Budget.RefilledAt, now)),
                (int)Math.Ceiling(CredentialBudgets.Held(r.Budget.Tokens, r.Budget.Tpm, r.Budget.RefilledAt, now)),
                r.Budget.PausedUntil > now ? r.Budget.PausedUntil : null))
            .OrderBy(v => v.CredentialId != CredentialBudget.PlatformCredential).ThenByDescending(v => v.TokensUsed)
            .Take(limit).ToList();
    }

    /// <summary>
    /// Whether the user's next provider task waits for its credential's budget (the one the dispatcher would reserve on:
    /// the user's active key, else the platform's), in plain words; null when the budget holds one more of its tasks.
    /// </summary>
    public static async Task<BudgetWait?> Of(PlatformDbContext db, string userId, double defaultTokens, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var own = await db.ProviderKeys.AsNoTracking()
            .Where(k => k.UserId == userId && k.Status == ProviderKeyStatuses.Active && db.Users.Any(u => u.UserId == userId && u.OwnProviderKey))
            .Select(k => (Guid?)k.CredentialId).SingleOrDefaultAsync(cancellationToken);
        var credential = own ?? CredentialBudget.PlatformCredential;
        var budget = await db.CredentialBudgets.AsNoTracking().SingleOrDefaultAsync(b => b.CredentialId == credential, cancellationToken);
        if (budget is null)
            return null;
        var estimate = await db.UserShares.AsNoTracking().Where(s => s.UserId == userId).Select(s => s.MeanTokens).SingleOrDefaultAsync(cancellationToken)
                       ?? defaultTokens;
        return Wait(budget, own is not null, estimate, now);
    }

    /// <summary>The arithmetic of <see cref="Of"/>: when the budget next holds one request and <paramref name="estimate"/> tokens.</summary>
    public static BudgetWait? Wait(CredentialBudget budget, bool ownKey, double estimate, DateTimeOffset now)
    {
        var whose = ownKey ? "your provider key's" : "the provider's";
        if (budget.PausedUntil is { } paused && paused > now)
            return new BudgetWait($"the provider refused a call for its rate limit (429); {whose} budget is paused until {Time(paused)} UTC", paused);

        var (requests, tokens) = CredentialBudgets.Room(budget, now);
        if (requests < 1)
        {
            var at = now + TimeSpan.FromSeconds((1 - requests.Value) * 60 / budget.Rpm!.Value);
            return new BudgetWait($"{whose} request budget ({budget.Rpm} a minute) is spent; it refills at {Time(at)} UTC", at);
        }

        if (tokens < estimate)
        {
            var at = now + TimeSpan.FromSeconds((estimate - tokens.Value) * 60 / budget.Tpm!.Value);
            return new BudgetWait($"{whose} token budget ({budget.Tpm} a minute) has no room for this task (about {estimate:0} tokens); it refills at {Time(at)} UTC", at);
        }

        return null;
    }

    static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture);
}

/// <summary>
/// What a provider's <c>x-ratelimit-limit-requests</c>/<c>-tokens</c> and <c>x-ratelimit-remaining-*</c> headers said (as of
/// the call's start); any may be missing.
/// </summary>
public sealed record ProviderLimits(int? Rpm, int? Tpm, int? RemainingRequests = null, int? RemainingTokens = null);
