using Microsoft.EntityFrameworkCore;

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
        if (db.Database.CurrentTransaction is null)
            throw new InvalidOperationException("The dispatch lock lives as long as a transaction: begin one first.");

        // A hash collision between two users only makes them take turns; it never lets one user's decisions overlap.
        return db.Database.ExecuteSqlAsync($"SELECT pg_advisory_xact_lock(hashtextextended({userId}, 7))", cancellationToken);
    }
}
