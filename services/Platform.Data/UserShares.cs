using Npgsql;
using Platform.Data.Tiers;

namespace Platform.Data;

/// <summary>
/// Whether a user is in fair share's view (<c>user_shares.ready</c>, docs/fair-share.md). Marked by the intake when a batch
/// is accepted, by the orchestrator's decision for any event that may add work, and by the reconciler's pass; cleared
/// by the decision that finds the user has nothing more due.
/// </summary>
public static class UserShares
{
    /// <summary>
    /// These users may have work due: ready, those of them with a queued task due now. A user that was not ready starts at the
    /// lowest virtual time among the ready users with room, so that time spent without work banks no credit, and it is
    /// served at the next unit that frees.
    /// </summary>
    public static NpgsqlBatchCommand MarkReadyStatement(TierOptions tiers, string[] userIds)
    {
        var (names, concurrency, ownKeyConcurrency, _) = tiers.Columns();
        return Statements.Statement("""
            WITH floor AS (
                SELECT s.virtual_time FROM user_shares s
                JOIN users u ON u.user_id = s.user_id
                JOIN unnest($2::text[], $3::int[], $4::int[]) AS tier(name, concurrency, own_key_concurrency) ON tier.name = lower(u.tier)
                WHERE s.ready AND s.user_id <> ALL($1)
                  AND (SELECT count(*) FROM tasks t WHERE t.user_id = s.user_id AND t.status = 'running')
                      < CASE WHEN u.own_provider_key THEN tier.own_key_concurrency ELSE tier.concurrency END
                ORDER BY s.virtual_time LIMIT 1)
            INSERT INTO user_shares (user_id, virtual_time, mean_seconds, ready)
            SELECT id, coalesce((SELECT virtual_time FROM floor), 0), 1, true
            FROM unnest($1::text[]) AS ids(id)
            WHERE EXISTS (
                SELECT 1 FROM batches b
                WHERE b.user_id = ids.id AND b.open AND b.cancel_requested_at IS NULL
                  AND EXISTS (SELECT 1 FROM tasks t WHERE t.batch_id = b.batch_id AND t.status = 'queued'
                                AND (t.not_before IS NULL OR t.not_before <= now())))
            ON CONFLICT (user_id) DO UPDATE SET ready = true,
              virtual_time = CASE WHEN user_shares.ready THEN user_shares.virtual_time
                                  ELSE greatest(user_shares.virtual_time, excluded.virtual_time) END
            """,
            userIds, names, concurrency, ownKeyConcurrency);
    }

    /// <summary><see cref="MarkReadyStatement"/> in a transaction of its own (the intake, once a batch has committed).</summary>
    /// <remarks>
    /// Its commit does not wait for the WAL flush: the batch's own commit already did, and should PostgreSQL crash before
    /// this one is flushed, the dispatcher's decision for the batch's BatchSubmitted marks the user ready anyway. On the
    /// submission's way, so one flush fewer per batch (issue 17).
    /// </remarks>
    public static async Task MarkReady(PlatformDbContext db, TierOptions tiers, string userId, CancellationToken cancellationToken)
    {
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        await using (var batch = db.Batch(Statements.Statement("SET LOCAL synchronous_commit = off"), MarkReadyStatement(tiers, [userId])))
            await batch.ExecuteNonQueryAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
    }
}
