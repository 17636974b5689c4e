using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Platform.Data;

/// <summary>
/// The lock that serializes one user's dispatch decisions across every orchestrator instance (and a tier change
/// against them). A transaction-scoped advisory lock rather than the user row's lock: workers update the user row
/// (usage, reservations) on every task they finish, and the dispatcher must not queue behind them.
/// </summary>
public static class DispatchLock
{
    /// <summary>Blocks until this transaction holds the user's dispatch lock; released by commit or rollback.</summary>
    public static Task Acquire(PlatformDbContext db, string userId, CancellationToken cancellationToken)
    {
        RequireTransaction(db);

        // A hash collision between two users only makes them take turns; it never lets one user's decisions overlap.
        return db.Database.ExecuteSqlRawAsync(Sql, [userId], cancellationToken);
    }

    /// <summary>
    /// The same lock as the first statement of a batch, so the statements after it (each with its own snapshot, taken
    /// once the lock is held) go to PostgreSQL in the same round trip.
    /// </summary>
    public static NpgsqlBatchCommand Command(PlatformDbContext db, string userId)
    {
        RequireTransaction(db);
        return Statements.FromRaw(Sql, userId);
    }

    /// <summary>
    /// The same lock, only if it is free right now: the statement returns whether this transaction holds it. A decision
    /// under the <see cref="FleetCommand">fleet's lock</see> only ever tries a user's lock, so that it never waits for a
    /// cancellation or a tier change, and nothing that holds a user's lock waits for the fleet's.
    /// </summary>
    public static NpgsqlBatchCommand TryCommand(PlatformDbContext db, string userId)
    {
        RequireTransaction(db);
        return Statements.FromRaw(TrySql, userId);
    }

    /// <summary>
    /// The fleet's lock: held by every decision that gives out units of the fleet (docs/fair-share.md), so that two of them
    /// can never both see the same free unit, and fair share's order is kept by one decision at a time. Taken before any
    /// user's lock. A two-key advisory lock, a space apart from the users' one-key locks.
    /// </summary>
    public static NpgsqlBatchCommand FleetCommand(PlatformDbContext db)
    {
        RequireTransaction(db);
        return Statements.Statement("SELECT pg_advisory_xact_lock(7, 1)");
    }

    const string Sql = "SELECT pg_advisory_xact_lock(hashtextextended({0}, 7))";
    const string TrySql = "SELECT pg_try_advisory_xact_lock(hashtextextended({0}, 7))";

    static void RequireTransaction(PlatformDbContext db)
    {
        if (db.Database.CurrentTransaction is null)
            throw new InvalidOperationException("The dispatch lock lives as long as a transaction: begin one first.");
    }
}
