using Npgsql;
using Platform.Data;
using Platform.Data.Tiers;

namespace Platform.Dispatch;

/// <summary>A ready user that may take a unit of the fleet now: its virtual time, its estimate, its weight and its room.</summary>
public sealed record ShareCandidate(string UserId, string Tier, double VirtualTime, double MeanSeconds, double Weight, int Slots, int Running);

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
    public static IReadOnlyList<(ShareCandidate User, int Units)> Grant(IReadOnlyList<ShareCandidate> candidates, int units)
    {
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
                var time = c.VirtualTime + given[i] * Charge(c.MeanSeconds, c.Weight);
                if (best < 0 || time < bestTime || (time == bestTime && Before(c, given[i], candidates[best], given[best])))
                {
                    best = i;
                    bestTime = time;
                }
            }

            if (best < 0)
                break;
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
    public static NpgsqlBatchCommand CandidatesStatement(TierOptions tiers, int limit, string[] skip)
    {
        var (names, concurrency, ownKeyConcurrency, weights) = tiers.Columns();
        return Statements.Statement("""
            SELECT s.user_id, lower(u.tier), s.virtual_time, s.mean_seconds, tier.weight,
                   CASE WHEN u.own_provider_key THEN tier.own_key_concurrency ELSE tier.concurrency END, r.n
            FROM user_shares s
            JOIN users u ON u.user_id = s.user_id
            JOIN unnest($1::text[], $2::int[], $3::int[], $4::float8[]) AS tier(name, concurrency, own_key_concurrency, weight)
              ON tier.name = lower(u.tier)
            CROSS JOIN LATERAL (SELECT count(*)::int AS n FROM tasks t WHERE t.user_id = s.user_id AND t.status = 'running') r
            WHERE s.ready AND s.user_id <> ALL($6)
              AND r.n < CASE WHEN u.own_provider_key THEN tier.own_key_concurrency ELSE tier.concurrency END
            ORDER BY s.virtual_time, r.n, s.user_id
            LIMIT $5
            """,
            names, concurrency, ownKeyConcurrency, weights, limit, skip);
    }

    /// <summary>Reads <see cref="CandidatesStatement"/>'s result where the reader stands.</summary>
    public static async Task<List<ShareCandidate>> ReadCandidates(NpgsqlDataReader reader, CancellationToken cancellationToken)
    {
        var candidates = new List<ShareCandidate>();
        while (await reader.ReadAsync(cancellationToken))
        {
            candidates.Add(new ShareCandidate(reader.GetString(0), reader.GetString(1), reader.GetDouble(2), reader.GetDouble(3),
                reader.GetDouble(4), reader.GetInt32(5), reader.GetInt32(6)));
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
