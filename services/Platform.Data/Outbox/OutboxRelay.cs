using System.Diagnostics;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Platform.Data.Model;

namespace Platform.Data.Outbox;

/// <summary>
/// Publishes committed outbox rows to the bus and deletes them. Rows are claimed with <c>FOR UPDATE SKIP LOCKED</c>,
/// so any number of instances can relay side by side; a row is deleted only in the transaction that saw its publish
/// confirmed, so a crash at any point publishes it again (at least once) and consumers treat duplicates as no-ops.
/// </summary>
public sealed partial class OutboxRelay(
    IServiceScopeFactory scopes,
    IBusControl bus,
    OutboxSignal signal,
    ILogger<OutboxRelay> logger) : BackgroundService
{
    public const int BatchSize = 256;

    /// <summary>How long one pass waits for the broker to confirm its publishes before it gives the rows back.</summary>
    public static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Fallback poll for rows whose writer crashed before signalling, or that another instance left behind.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Wait for the bus: publishing before it has started would fail every row once.
        while (!stoppingToken.IsCancellationRequested
               && await bus.WaitForHealthStatus(BusHealthStatus.Healthy, TimeSpan.FromSeconds(1)) != BusHealthStatus.Healthy)
        {
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // A pass is not cancelled by the host stopping: one cut off after its publishes and before its delete
                // leaves every row it published for another relay to publish again. It ends within PublishTimeout.
                while (await RelayOnce(CancellationToken.None) == BatchSize && !stoppingToken.IsCancellationRequested)
                {
                }
            }
            catch (Exception ex)
            {
                LogRelayFailed(logger, ex);
                await Task.Delay(PollInterval, stoppingToken);
            }

            try
            {
                await signal.WaitAsync(PollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>Publishes up to <see cref="BatchSize"/> committed rows; returns how many.</summary>
    public async Task<int> RelayOnce(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);

        var rows = await db.OutboxMessages
            .FromSql($"SELECT * FROM outbox_messages ORDER BY id LIMIT {BatchSize} FOR UPDATE SKIP LOCKED")
            .AsNoTracking()
            .ToListAsync(cancellationToken);
        if (rows.Count == 0)
            return 0;

        // A publish can wait for a broker that is restarting. Meanwhile this transaction holds the rows' locks, and every
        // other relay skips them (SKIP LOCKED): past the timeout the transaction rolls back and the rows are relayed
        // again, at least once, which consumers already treat as a no-op.
        using var publishing = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        publishing.CancelAfter(PublishTimeout);
        await Task.WhenAll(rows.Select(row => Publish(row, publishing.Token))).WaitAsync(PublishTimeout, cancellationToken);

        // This transaction only deletes rows already published. Its commit need not wait for the WAL flush: if PostgreSQL
        // crashes first, the delete is lost and the rows are published again, which consumers treat as a no-op anyway.
        // Set after the publishes, so the extra statement is not on the messages' way.
        await db.Database.ExecuteSqlRawAsync("SET LOCAL synchronous_commit = off", cancellationToken);
        var ids = rows.Select(r => r.Id).ToArray();
        await db.OutboxMessages.Where(m => ids.Contains(m.Id)).ExecuteDeleteAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return rows.Count;
    }

    async Task Publish(OutboxMessage row, CancellationToken cancellationToken)
    {
        var (message, type) = OutboxSerializer.FromOutbox(row);

        // Continue the writer's trace, whichever process relays the row: the publish becomes a child of the request,
        // consumer or dispatch that wrote it, and MassTransit carries that context on to the consumers.
        using var activity = row.TraceParent is not null && ActivityContext.TryParse(row.TraceParent, null, isRemote: true, out var parent)
            ? OutboxActivity.Source.StartActivity("outbox relay " + type.Name, ActivityKind.Internal, parent)
            : null;
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("messaging.message.type", type.FullName);
            activity.SetTag("platform.outbox.id", row.Id);
            activity.SetTag("platform.outbox.wait_ms", (DateTimeOffset.UtcNow - row.CreatedAt).TotalMilliseconds);
        }

        await bus.Publish(message, type, cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outbox relay failed; rows stay in the outbox and are retried")]
    static partial void LogRelayFailed(ILogger logger, Exception exception);
}

public static class OutboxActivity
{
    public static readonly ActivitySource Source = new("Platform.Outbox");
}
