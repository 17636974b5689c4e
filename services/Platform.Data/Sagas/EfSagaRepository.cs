using System.Data;
using MassTransit;
using MassTransit.Configuration;
using MassTransit.Context;
using MassTransit.Saga;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace Platform.Data.Sagas;

/// <summary>
/// MassTransit saga repository on EF Core and PostgreSQL (MassTransit.EntityFrameworkCore is not in our registry).
/// Each message runs in one transaction on the scope's <see cref="PlatformDbContext"/>: the instance is loaded with
/// <c>SELECT … FOR UPDATE</c>, so events for one saga are serialized across every process, and whatever else the
/// saga's activities write through the same context (task rows, outbox messages) commits or rolls back with it.
/// </summary>
public sealed class EfSagaRepositoryContextFactory<TSaga>(
    PlatformDbContext db,
    ISagaConsumeContextFactory<PlatformDbContext, TSaga> factory) : ISagaRepositoryContextFactory<TSaga>
    where TSaga : class, ISaga
{
    public void Probe(ProbeContext context) => context.Add("persistence", "efcore-postgresql");

    public async Task Send<T>(ConsumeContext<T> context, IPipe<SagaRepositoryContext<TSaga, T>> next) where T : class
    {
        // A retried message gets a fresh scope, but be safe if a context is reused: start from a clean tracker.
        db.ChangeTracker.Clear();
        await using var transaction = await db.Database.BeginTransactionAsync(IsolationLevel.ReadCommitted, context.CancellationToken);

        var repositoryContext = new EfSagaRepositoryContext<TSaga, T>(db, context, factory);
        await next.Send(repositoryContext);

        await db.SaveChangesAsync(context.CancellationToken);
        await transaction.CommitAsync(context.CancellationToken);
    }

    public Task SendQuery<T>(ConsumeContext<T> context, ISagaQuery<TSaga> query, IPipe<SagaRepositoryQueryContext<TSaga, T>> next)
        where T : class =>
        throw new NotSupportedException(
            $"{typeof(TSaga).Name} is correlated by CorrelationId only; query correlation is not supported by {nameof(EfSagaRepositoryContextFactory<TSaga>)}.");

    internal static string LockSql(DbContext db)
    {
        var entity = db.Model.FindEntityType(typeof(TSaga))
            ?? throw new InvalidOperationException($"{typeof(TSaga).Name} is not part of {db.GetType().Name}'s model.");
        var table = entity.GetTableName()!;
        var schema = entity.GetSchema();
        var key = entity.FindPrimaryKey()!.Properties.Single().GetColumnName();
        var qualified = schema is null ? $"\"{table}\"" : $"\"{schema}\".\"{table}\"";
        return $"SELECT * FROM {qualified} WHERE \"{key}\" = {{0}} FOR UPDATE";
    }
}

public sealed class EfSagaRepositoryContext<TSaga, TMessage> : ConsumeContextScope<TMessage>, SagaRepositoryContext<TSaga, TMessage>
    where TSaga : class, ISaga
    where TMessage : class
{
    static string? _lockSql;

    readonly PlatformDbContext db;
    readonly ConsumeContext<TMessage> message;
    readonly ISagaConsumeContextFactory<PlatformDbContext, TSaga> factory;

    public EfSagaRepositoryContext(PlatformDbContext db, ConsumeContext<TMessage> message, ISagaConsumeContextFactory<PlatformDbContext, TSaga> factory)
        : base(message, db)
    {
        this.db = db;
        this.message = message;
        this.factory = factory;
    }

    public Task<SagaConsumeContext<TSaga, T>> CreateSagaConsumeContext<T>(ConsumeContext<T> consumeContext, TSaga instance, SagaConsumeContextMode mode)
        where T : class =>
        factory.CreateSagaConsumeContext(db, consumeContext, instance, mode);

    public Task<SagaConsumeContext<TSaga, TMessage>> Add(TSaga instance) =>
        factory.CreateSagaConsumeContext(db, message, instance, SagaConsumeContextMode.Add);

    public async Task<SagaConsumeContext<TSaga, TMessage>> Insert(TSaga instance)
    {
        db.Set<TSaga>().Add(instance);
        await db.SaveChangesAsync(CancellationToken);
        return await factory.CreateSagaConsumeContext(db, message, instance, SagaConsumeContextMode.Insert);
    }

    public async Task<SagaConsumeContext<TSaga, TMessage>> Load(Guid correlationId)
    {
        _lockSql ??= EfSagaRepositoryContextFactory<TSaga>.LockSql(db);
        var instance = await db.Set<TSaga>()
            .FromSqlRaw(_lockSql, correlationId)
            .SingleOrDefaultAsync(CancellationToken);

        return instance is null
            ? null!
            : await factory.CreateSagaConsumeContext(db, message, instance, SagaConsumeContextMode.Load);
    }

    // A new instance: inserting it makes a concurrent first event for the same id fail on the primary key, and the
    // retry then loads (and locks) the row the winner inserted.
    public Task Save(SagaConsumeContext<TSaga> context)
    {
        db.Set<TSaga>().Add(context.Saga);
        return Task.CompletedTask;
    }

    // The instance is tracked since Load: the factory's SaveChanges writes it before commit.
    public Task Update(SagaConsumeContext<TSaga> context) => Task.CompletedTask;

    public Task Delete(SagaConsumeContext<TSaga> context)
    {
        db.Set<TSaga>().Remove(context.Saga);
        return Task.CompletedTask;
    }

    public Task Discard(SagaConsumeContext<TSaga> context)
    {
        var entry = db.Entry(context.Saga);
        if (entry.State == EntityState.Added)
            entry.State = EntityState.Detached;
        return Task.CompletedTask;
    }

    // After a read-only event MassTransit undoes rather than updates: the instance was loaded (tracked), so only
    // detaching it keeps the factory's SaveChanges from writing what the event changed in memory.
    public Task Undo(SagaConsumeContext<TSaga> context)
    {
        db.Entry(context.Saga).State = EntityState.Detached;
        return Task.CompletedTask;
    }
}

public static class EfSagaRepositoryRegistration
{
    /// <summary>Persists the saga with <see cref="EfSagaRepositoryContextFactory{TSaga}"/> in <see cref="PlatformDbContext"/>.</summary>
    public static ISagaRegistrationConfigurator<TSaga> EfCoreRepository<TSaga>(this ISagaRegistrationConfigurator<TSaga> configurator)
        where TSaga : class, ISaga
    {
        configurator.Repository(r => r.RegisterSagaRepository<TSaga, PlatformDbContext,
            SagaConsumeContextFactory<PlatformDbContext, TSaga>, EfSagaRepositoryContextFactory<TSaga>>());
        return configurator;
    }
}
