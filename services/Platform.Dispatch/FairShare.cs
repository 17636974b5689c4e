using Npgsql;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Tiers;

namespace Platform.Dispatch;

/// <summary>A ready user that may take a unit of the fleet now: its virtual time, its estimate, its weight and its room.</summary>
/// <param name="Budget">Its credential's budget as the decision found it; null: nothing to hold it back.</param>
public sealed record ShareCandidate(string UserId, string Tier, double VirtualTime, double MeanSeconds, double Weight, int Slots, int Running,
    CandidateBudget? Budget = null);

/// <summary>
/// The credential a user's provider tasks run on (the platform's or the user's own key), what one of its tasks reserves,
/// and that credential's room when read.
/// </summary>
/// <param name="SimulatedDue">
/// The credential has no room, but one of the user's batches has a simulated task next: those call no provider, so the user
/// still takes units for them.
/// </param>
public sealed record CandidateBudget(Guid Credential, double EstimatedTokens, double? RequestRoom, double? TokenRoom, bool Paused, bool SimulatedDue);

/// <summary>What is left of one credential's budget as a decision gives it out; null limits hold nothing back.</summary>
public sealed class BudgetRoom(double? requests, double? tokens, bool paused)
{
    public double? Requests { get; private set; } = requests;
    public double? Tokens { get; private set; } = tokens;
    public bool Paused { get; } = paused;

    public bool Fits(double tokens) => !Paused && (Requests is null || Requests >= 1) && (Tokens is null || Tokens >= tokens);

    public void Take(double tokens)
    {
        Requests -= 1;
        Tokens -= tokens;
    }

    public BudgetRoom Copy() => new(Requests, Tokens, Paused);

    public static BudgetRoom Of(CandidateBudget budget) => new(budget.RequestRoom, budget.TokenRoom, budget.Paused);
}

/// <summary>
/// Who gets the fleet's free units: start-time fair queuing on each user's virtual time (docs/fair-share.md). Each unit
/// goes to the eligible user (a free slot) with the lowest virtual time, and each unit given charges that user its
/// estimate over its weight. Over time each user's service is proportional to its weight, capped by its slots, and what one
/// cannot use goes to the next: weighted water-filling, work-conserving. A user's batches never enter it.
/// </summary>
public static class FairShare
{
    /// <summary>The least a task is charged, in seconds: zero-latency tasks must still move their user's virtual time.</summary>
    public const double MinCharge = 0.01;

    /// <summary>The share-seconds one task of this user costs it at dispatch.</summary>
    public static double Charge(double meanSeconds, double weight) => Math.Max(meanSeconds, MinCharge) / weight;

    /// <summary>Gives out <paramref name="units"/> among <paramref name="candidates"/>; returns how many each got, in the order first given.</summary>
    /// <param name="rooms">
    /// What the decision has left of each credential's budget (the candidates' own reading where missing; not changed here).
    /// A user whose credential cannot take one more of its tasks is passed over like a user at its slots.
    /// </param>
    public static IReadOnlyList<(ShareCandidate User, int Units)> Grant(IReadOnlyList<ShareCandidate> candidates, int units,
        IReadOnlyDictionary<Guid, BudgetRoom>? rooms = null)
    {
        var room = new Dictionary<Guid, BudgetRoom>();
        BudgetRoom? RoomOf(CandidateBudget? budget)
        {
            if (budget is null)
                return null;
            if (!room.TryGetValue(budget.Credential, out var r))
                room[budget.Credential] = r = rooms?.GetValueOrDefault(budget.Credential)?.Copy() ?? BudgetRoom.Of(budget);
            return r;
        }

        var given = new int[candidates.Count];
        var order = new List<int>();
        for (var unit = 0; unit < units; unit++)
        {
            var best = -1;
            var bestTime = 0.0;
            for (var i = 0; i < candidates.Count; i++)
            {
                var c = candidates[i];
                if (c.Running + given[i] >= c.Slots)
                    continue;
                if (c.Budget is { } b && !RoomOf(b)!.Fits(b.EstimatedTokens) && !b.SimulatedDue)
                    continue;
                var time = c.VirtualTime + given[i] * Charge(c.MeanSeconds, c.Weight);
                if (best < 0 || time < bestTime || (time == bestTime && Before(c, given[i], candidates[best], given[best])))
                {
                    best = i;
                    bestTime = time;
                }
            }

            if (best < 0)
                break;
            if (candidates[best].Budget is { } chosen && RoomOf(chosen)!.Fits(chosen.EstimatedTokens))
                RoomOf(chosen)!.Take(chosen.EstimatedTokens);
            if (given[best]++ == 0)
                order.Add(best);
        }

        return order.Select(i => (candidates[i], given[i])).ToList();
    }

    // At equal virtual times (a user that just became ready starts at the lowest), fewer in flight goes first, so a user
    // with nothing running takes the very next unit; then the user id, for a stable order.
    static bool Before(ShareCandidate a, int givenA, ShareCandidate b, int givenB) =>
        a.Running + givenA != b.Running + givenB ? a.Running + givenA < b.Running + givenB : string.CompareOrdinal(a.UserId, b.UserId) < 0;

    /// <summary>
    /// The ready users with a free slot, lowest virtual time first (then fewest in flight), at most <paramref name="limit"/>, skipping
    /// <paramref name="skip"/>. Walks <c>ix_user_shares_next</c> in order and counts each one's tasks in flight (bounded by
    /// its slots), so it reads past users at their slots only: at most as many as hold the fleet.
    /// </summary>
    /// <remarks>
    /// Each row carries the user's credential and that budget's room at <paramref name="now"/> (<c>budget_held</c>); only for a
    /// credential without room does it look whether one of the user's open batches has a simulated task next (one index
    /// probe per open batch).
    /// </remarks>
    public static NpgsqlBatchCommand CandidatesStatement(TierOptions tiers, int limit, string[] skip, DateTimeOffset now, double defaultTokens)
    {
        var (names, concurrency, ownKeyConcurrency, weights) = tiers.Columns();
        return Statements.Statement("""
            SELECT s.user_id, lower(u.tier), s.virtual_time, s.mean_seconds, tier.weight,
                   CASE WHEN u.own_provider_key THEN tier.own_key_concurrency ELSE tier.concurrency END, r.n,
                   c.credential_id, c.estimate, c.request_room, c.token_room, c.paused,
                   CASE WHEN c.paused OR c.request_room < 1 OR c.token_room < c.estimate THEN EXISTS (
                       SELECT 1 FROM batches b
                       WHERE b.user_id = s.user_id AND b.open AND b.cancel_requested_at IS NULL
                         AND (SELECT t.input ? 'simulate' FROM tasks t
                              WHERE t.batch_id = b.batch_id AND t.status = 'queued' AND (t.not_before IS NULL OR t.not_before <= $7)
                              ORDER BY t.seq LIMIT 1))
                   ELSE false END
            FROM user_shares s
            JOIN users u ON u.user_id = s.user_id
            JOIN unnest($1::text[], $2::int[], $3::int[], $4::float8[]) AS tier(name, concurrency, own_key_concurrency, weight)
              ON tier.name = lower(u.tier)
            CROSS JOIN LATERAL (SELECT count(*)::int AS n FROM tasks t WHERE t.user_id = s.user_id AND t.status = 'running') r
            CROSS JOIN LATERAL (
                SELECT k.credential_id, coalesce(s.mean_tokens, $8) AS estimate,
                       cb.rpm - budget_held(cb.requests, cb.rpm, cb.refilled_at, $7) AS request_room,
                       cb.tpm - budget_held(cb.tokens, cb.tpm, cb.refilled_at, $7) AS token_room,
                       coalesce(cb.paused_until > $7, false) AS paused
                FROM (SELECT coalesce((SELECT pk.credential_id FROM provider_keys pk
                                       WHERE u.own_provider_key AND pk.user_id = s.user_id AND pk.status = 'active'), $9) AS credential_id) k
                LEFT JOIN credential_budgets cb ON cb.credential_id = k.credential_id) c
            WHERE s.ready AND s.user_id <> ALL($6)
              AND r.n < CASE WHEN u.own_provider_key THEN tier.own_key_concurrency ELSE tier.concurrency END
            ORDER BY s.virtual_time, r.n, s.user_id
            LIMIT $5
            """,
            names, concurrency, ownKeyConcurrency, weights, limit, skip, now, defaultTokens, CredentialBudget.PlatformCredential);
    }

    /// <summary>Reads <see cref="CandidatesStatement"/>'s result where the reader stands.</summary>
    public static async Task<List<ShareCandidate>> ReadCandidates(NpgsqlDataReader reader, CancellationToken cancellationToken)
    {
        var candidates = new List<ShareCandidate>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var budget = new CandidateBudget(reader.GetGuid(7), reader.GetDouble(8), reader.IsDBNull(9) ? null : reader.GetDouble(9),
                reader.IsDBNull(10) ? null : reader.GetDouble(10), reader.GetBoolean(11), reader.GetBoolean(12));
            candidates.Add(new ShareCandidate(reader.GetString(0), reader.GetString(1), reader.GetDouble(2), reader.GetDouble(3),
                reader.GetDouble(4), reader.GetInt32(5), reader.GetInt32(6), budget));
        }

        return candidates;
    }

    /// <summary>
    /// A task of the user ended after <paramref name="seconds"/>: its dispatch charged the estimate, so the difference is
    /// charged (or given back) now, at the weight of the user's tier today, and the estimate moves towards what tasks take.
    /// </summary>
    public static NpgsqlBatchCommand SettleStatement(TierOptions tiers, string userId, double seconds)
    {
        var (names, _, _, weights) = tiers.Columns();
        return Statements.Statement("""
            UPDATE user_shares s
            SET virtual_time = s.virtual_time + (greatest($2, $3) - greatest(s.mean_seconds, $3)) / tier.weight,
                mean_seconds = 0.8 * s.mean_seconds + 0.2 * $2
            FROM users u JOIN unnest($4::text[], $5::float8[]) AS tier(name, weight) ON tier.name = lower(u.tier)
            WHERE s.user_id = $1 AND u.user_id = $1
            """, userId, seconds, MinCharge, names, weights);
    }

    /// <summary>What a decision gave these users: the share-seconds it charged each, and whether each is still ready.</summary>
    public static NpgsqlBatchCommand ChargeStatement(IReadOnlyList<(string UserId, double Charge, bool Ready)> users) => Statements.Statement("""
        UPDATE user_shares s SET virtual_time = s.virtual_time + c.charge, ready = c.ready
        FROM unnest($1::text[], $2::float8[], $3::bool[]) AS c(user_id, charge, ready)
        WHERE s.user_id = c.user_id
        """, users.Select(u => u.UserId).ToArray(), users.Select(u => u.Charge).ToArray(), users.Select(u => u.Ready).ToArray());
}
