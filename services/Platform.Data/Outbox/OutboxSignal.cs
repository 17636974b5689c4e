using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Platform.Data.Model;

namespace Platform.Data.Outbox;

/// <summary>Wakes this process's outbox relay the moment a unit of work that wrote outbox rows commits.</summary>
/// <remarks>Polling alone would add its interval to every hop (task finished → next task dispatched → started).</remarks>
public sealed class OutboxSignal : IDisposable
{
    // One wake-up drains everything that is committed.
    readonly Doorbell _bell = new();

    public void Notify() => _bell.Ring();

    public void Dispose() => _bell.Dispose();

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _bell.Wait(timeout, cancellationToken);
}

/// <summary>Notifies <see cref="OutboxSignal"/> after a commit that included outbox rows.</summary>
/// <remarks>
/// <see cref="PlatformDbContext.Publish{T}"/> marks its context; the mark is cleared, with one wake-up, when the rows
/// become visible (a commit, or SaveChanges outside a transaction).
/// </remarks>
public sealed class OutboxSignalInterceptor(OutboxSignal signal) : SaveChangesInterceptor, IDbTransactionInterceptor
{
    public override int SavedChanges(SaveChangesCompletedEventData eventData, int result)
    {
        NotifyIfCommitted(eventData.Context);
        return result;
    }

    public override ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        NotifyIfCommitted(eventData.Context);
        return ValueTask.FromResult(result);
    }

    // Inside an explicit transaction the rows are not visible yet: wait for TransactionCommitted.
    void NotifyIfCommitted(DbContext? context)
    {
        if (context is not null && context.Database.CurrentTransaction is null)
            Committed(context);
    }

    void Committed(DbContext? context)
    {
        if (context is PlatformDbContext { OutboxWritten: true } db)
        {
            db.OutboxWritten = false;
            signal.Notify();
        }
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => Committed(eventData.Context);

    public Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Committed(eventData.Context);
        return Task.CompletedTask;
    }

    public void TransactionRolledBack(DbTransaction transaction, TransactionEndEventData eventData)
    {
        if (eventData.Context is PlatformDbContext db)
            db.OutboxWritten = false;
    }

    public Task TransactionRolledBackAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        TransactionRolledBack(transaction, eventData);
        return Task.CompletedTask;
    }
}
