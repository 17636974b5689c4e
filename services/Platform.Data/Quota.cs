using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Platform.Data;

/// <summary>
/// A user's monthly quota, kept on the user's row: reserved at intake, committed on completion, released on failure or
/// cancellation. Every change is one conditional UPDATE of that row inside the caller's transaction, so it commits or
/// rolls back with the task transition it accounts for.
/// </summary>
public static class Quota
{
    /// <summary>The quota month a moment falls in (UTC): a new month starts with nothing used.</summary>
    public static string Month(DateTimeOffset now) => now.UtcDateTime.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// Reserves <paramref name="count"/> tasks if this month's usage plus reservations leaves room for them (always when
    /// <paramref name="monthlyQuota"/> is null: unlimited). One statement, so two concurrent batches can never both slip past.
    /// </summary>
    public static async Task<bool> TryReserve(PlatformDbContext db, string userId, int count, int? monthlyQuota, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        var month = Month(now);
        var updated = await db.Database.ExecuteSqlAsync($"""
            UPDATE users SET
              used_this_month = CASE WHEN quota_month = {month} THEN used_this_month ELSE 0 END,
              prompt_tokens_this_month = CASE WHEN quota_month = {month} THEN prompt_tokens_this_month ELSE 0 END,
              completion_tokens_this_month = CASE WHEN quota_month = {month} THEN completion_tokens_this_month ELSE 0 END,
              quota_month = {month},
              reserved = reserved + {count}
            WHERE user_id = {userId}
              AND ({monthlyQuota}::int IS NULL
                   OR (CASE WHEN quota_month = {month} THEN used_this_month ELSE 0 END) + reserved + {count} <= {monthlyQuota}::int)
            """, cancellationToken);
        return updated == 1;
    }

    /// <summary>One completed task: its reservation becomes usage, in the month it completed.</summary>
    public static Task Commit(PlatformDbContext db, string userId, DateTimeOffset completedAt, CancellationToken cancellationToken) =>
        db.Database.ExecuteSqlRawAsync(CommitSql, [Month(completedAt), userId, 0L, 0L], cancellationToken);

    /// <summary>
    /// <see cref="Commit"/> as a statement, to send in a batch with others; with the provider tokens the task used, which
    /// count in the same month as the task (and so are counted exactly once, with it).
    /// </summary>
    public static NpgsqlBatchCommand CommitStatement(string userId, DateTimeOffset completedAt, long promptTokens = 0, long completionTokens = 0) =>
        Statements.FromRaw(CommitSql, Month(completedAt), userId, promptTokens, completionTokens);

    /// <summary>Tasks that ended failed or cancelled use no quota: their reservations are released.</summary>
    public static Task Release(PlatformDbContext db, string userId, int count, CancellationToken cancellationToken) =>
        db.Database.ExecuteSqlRawAsync(ReleaseSql, [count, userId], cancellationToken);

    /// <summary><see cref="Release"/> as a statement, to send in a batch with others.</summary>
    public static NpgsqlBatchCommand ReleaseStatement(string userId, int count) => Statements.FromRaw(ReleaseSql, count, userId);

    // {0}, {1}, …: EF's placeholders (Statements.FromRaw turns them into $1, $2, …).
    const string CommitSql = """
        UPDATE users SET
          used_this_month = CASE WHEN quota_month = {0} THEN used_this_month + 1 ELSE 1 END,
          prompt_tokens_this_month = CASE WHEN quota_month = {0} THEN prompt_tokens_this_month + {2} ELSE {2} END,
          completion_tokens_this_month = CASE WHEN quota_month = {0} THEN completion_tokens_this_month + {3} ELSE {3} END,
          quota_month = {0},
          reserved = GREATEST(reserved - 1, 0)
        WHERE user_id = {1}
        """;

    const string ReleaseSql = "UPDATE users SET reserved = GREATEST(reserved - {0}, 0) WHERE user_id = {1}";
}
