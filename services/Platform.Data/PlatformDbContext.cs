using Microsoft.AspNetCore.DataProtection.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;
using Platform.Data.Model;
using Platform.Data.Outbox;
using Platform.Data.Sagas;

namespace Platform.Data;

public sealed class PlatformDbContext : DbContext, IDataProtectionKeyContext
{
    public PlatformDbContext(DbContextOptions<PlatformDbContext> options) : base(options)
    {
        // Inside our transactions EF would wrap every SaveChanges in SAVEPOINT … RELEASE: two more round trips each time,
        // on the hot path of every task. Nothing here continues a transaction after a failed SaveChanges: it rolls back.
        Database.AutoSavepointsEnabled = false;
    }

    public DbSet<User> Users => Set<User>();
    public DbSet<Batch> Batches => Set<Batch>();
    public DbSet<ResearchTask> Tasks => Set<ResearchTask>();
    public DbSet<BatchState> BatchStates => Set<BatchState>();
    public DbSet<OutboxMessage> OutboxMessages => Set<OutboxMessage>();
    public DbSet<ProviderKey> ProviderKeys => Set<ProviderKey>();

    /// <summary>The Data Protection key ring: each key's XML, encrypted with the master key that lives outside the database.</summary>
    public DbSet<DataProtectionKey> DataProtectionKeys => Set<DataProtectionKey>();
    public DbSet<WorkerInstance> Workers => Set<WorkerInstance>();
    public DbSet<UserShare> UserShares => Set<UserShare>();
    public DbSet<CredentialBudget> CredentialBudgets => Set<CredentialBudget>();

    /// <summary>Adds a message to the transactional outbox: it is published only if, and after, this unit of work commits.</summary>
    public void Publish<T>(T message) where T : class
    {
        OutboxMessages.Add(OutboxSerializer.ToOutbox(message));
        OutboxWritten = true;
    }

    /// <summary>Outbox rows were written that no commit has announced yet (see <see cref="OutboxSignalInterceptor"/>).</summary>
    internal bool OutboxWritten { get; set; }

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        modelBuilder.Entity<User>(e =>
        {
            e.HasKey(x => x.UserId);
            e.HasIndex(x => x.ApiKeyHash).IsUnique();
        });

        modelBuilder.Entity<ProviderKey>(e =>
        {
            e.HasKey(x => x.UserId);
            e.HasIndex(x => x.CredentialId).IsUnique();
            e.HasOne<User>().WithOne().HasForeignKey<ProviderKey>(x => x.UserId).OnDelete(DeleteBehavior.Cascade);
            e.Property(x => x.Status).HasMaxLength(16);
        });

        modelBuilder.Entity<Batch>(e =>
        {
            e.HasKey(x => x.BatchId);
            e.HasIndex(x => new { x.UserId, x.CreatedAt });
            e.HasIndex(x => new { x.UserId, x.IdempotencyKey }).IsUnique().HasFilter("idempotency_key IS NOT NULL");
            // The dispatcher looks only at a user's open batches: this partial index keeps that bounded by them, not by history.
            e.HasIndex(x => x.UserId).HasFilter("open").HasDatabaseName("ix_batches_open_by_user");
            // The reconciler's cancellation backstop looks only at batches being cancelled, never at their history.
            e.HasIndex(x => x.CancelRequestedAt).HasFilter("cancelling").HasDatabaseName("ix_batches_cancelling");
        });

        modelBuilder.Entity<ResearchTask>(e =>
        {
            e.ToTable("tasks");
            e.HasKey(x => x.TaskId);
            e.Property(x => x.Input).HasColumnType("jsonb");
            e.Property(x => x.Result).HasColumnType("jsonb");
            e.HasIndex(x => new { x.BatchId, x.Key }).IsUnique();
            // Next queued task of a batch (oldest first), and per-status counts of a batch.
            e.HasIndex(x => new { x.BatchId, x.Status, x.Seq });
            // A user's tasks in flight (the slots in use, bounded by the tier), and their latest durations (the ETA).
            e.HasIndex(x => new { x.UserId, x.Status, x.FinishedAt });
            // Every task in flight, for the reconciler's run-time limit: bounded by the slots in use, not by the table.
            e.HasIndex(x => x.DispatchedAt).HasFilter("status = 'running'").HasDatabaseName("ix_tasks_running");
            // The running task an ExecuteTask delivery carries (a claim looks it up by the delivery's lease).
            e.HasIndex(x => x.LeaseId).HasFilter("status = 'running'").HasDatabaseName("ix_tasks_running_lease");
            // Terminal tasks the batch saga has not counted yet: a handful at any time, which the reconciler re-announces.
            e.HasIndex(x => x.FinishedAt).HasFilter("NOT counted AND status IN ('completed', 'failed', 'cancelled')").HasDatabaseName("ix_tasks_uncounted");
            // The same tasks by batch: the batch saga's count (TaskRowLedger) costs what ended since its last count, not the batch.
            e.HasIndex(x => x.BatchId, "ix_tasks_uncounted_by_batch").HasFilter("NOT counted AND status IN ('completed', 'failed', 'cancelled')");
        });

        modelBuilder.Entity<BatchState>(e =>
        {
            e.ToTable("batch_states");
            e.HasKey(x => x.CorrelationId);
            e.Property(x => x.CorrelationId).ValueGeneratedNever();
            e.Ignore(x => x.Terminal);
            e.Property(x => x.CurrentState).HasMaxLength(64);
        });

        modelBuilder.Entity<OutboxMessage>(e =>
        {
            e.ToTable("outbox_messages");
            e.HasKey(x => x.Id);
            e.Property(x => x.Body).HasColumnType("jsonb");
        });

        modelBuilder.Entity<WorkerInstance>(e =>
        {
            e.ToTable("workers");
            e.HasKey(x => x.WorkerId);
            e.Property(x => x.WorkerId).HasMaxLength(300);
            // No index on heartbeat_at: a heartbeat then updates its row in place (HOT), and the prune's scan is over the
            // instances, a few rows to a thousand.
        });

        modelBuilder.Entity<UserShare>(e =>
        {
            e.ToTable("user_shares");
            e.HasKey(x => x.UserId);
            // The next user for a free unit: the lowest virtual time among the ready, in one index probe.
            e.HasIndex(x => new { x.VirtualTime, x.UserId }).HasFilter("ready").HasDatabaseName("ix_user_shares_next");
        });

        modelBuilder.Entity<CredentialBudget>(e =>
        {
            e.ToTable("credential_budgets");
            e.HasKey(x => x.CredentialId);
            e.Property(x => x.CredentialId).ValueGeneratedNever();
            e.Property(x => x.KeyHint).HasMaxLength(16);
        });

        UseSnakeCase(modelBuilder);
    }

    // Names in PostgreSQL are snake_case so that psql sessions need no quoting.
    static void UseSnakeCase(ModelBuilder modelBuilder)
    {
        foreach (var entity in modelBuilder.Model.GetEntityTypes())
        {
            entity.SetTableName(Naming.ToSnakeCase(entity.GetTableName()!));
            foreach (var property in entity.GetProperties())
                property.SetColumnName(Naming.ToSnakeCase(property.Name));
            foreach (var key in entity.GetKeys())
                key.SetName(Naming.ToSnakeCase(key.GetName()!));
            foreach (var index in entity.GetIndexes())
                index.SetDatabaseName(Naming.ToSnakeCase(index.GetDatabaseName()!));
        }
    }
}
