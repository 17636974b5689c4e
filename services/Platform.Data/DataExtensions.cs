using System.Diagnostics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Platform.Data.Outbox;

namespace Platform.Data;

public static class DataExtensions
{
    public const string ConnectionStringName = "Platform";

    /// <summary>Registers <see cref="PlatformDbContext"/> (pooled connections, outbox signalling).</summary>
    public static IServiceCollection AddPlatformData(this IServiceCollection services, string connectionString)
    {
        services.AddSingleton<OutboxSignal>();
        services.AddSingleton<OutboxSignalInterceptor>();
        services.AddSingleton(_ =>
        {
            var builder = new NpgsqlDataSourceBuilder(connectionString).ConfigureTracing(Traced);
            Tune(builder.ConnectionStringBuilder);
            return builder.Build();
        });
        services.AddDbContext<PlatformDbContext>((sp, options) => options
            .UseNpgsql(sp.GetRequiredService<NpgsqlDataSource>(), o => o.EnableRetryOnFailure(0))
            .AddInterceptors(sp.GetRequiredService<OutboxSignalInterceptor>()));
        return services;
    }

    /// <summary>Publishes outbox rows from this process (every service that writes them runs one).</summary>
    public static IServiceCollection AddOutboxRelay(this IServiceCollection services)
    {
        services.AddHostedService<OutboxRelay>();
        return services;
    }

    /// <summary>
    /// Every task costs a dozen short statements on pooled connections. By default Npgsql sends <c>DISCARD ALL</c> each
    /// time a pooled connection is reused (eight times per task in the benchmark), which also throws away prepared
    /// statements, so PostgreSQL parses and plans every statement again. Nothing here keeps session state (locks are
    /// transaction-scoped, no session SET), so the reset is skipped and the statements that repeat are prepared once
    /// per connection.
    /// </summary>
    static void Tune(NpgsqlConnectionStringBuilder connection)
    {
        connection.NoResetOnClose = true;
        connection.MaxAutoPrepare = 64;
    }

    // A command becomes a span only inside a trace (a request, a message, a dispatch decision): the outbox relay's and the
    // reconciler's polls would otherwise start a new root trace several times a second in every process.
    static void Traced(NpgsqlTracingOptionsBuilder tracing) => tracing
        .ConfigureCommandFilter(_ => Activity.Current is not null)
        .ConfigureBatchFilter(_ => Activity.Current is not null)
        .EnablePhysicalOpenTracing(false)
        .ConfigureCommandSpanNameProvider(command => SpanName(command.CommandText))
        .ConfigureBatchSpanNameProvider(batch => batch.BatchCommands.Count == 1 ? SpanName(batch.BatchCommands[0].CommandText) : "postgresql batch");

    // "postgresql UPDATE" rather than the database name (Npgsql's default), so a trace reads as what the code did.
    static string SpanName(string sql)
    {
        var text = sql.AsSpan().TrimStart();
        var end = text.IndexOfAny(' ', '\n', '\r');
        return "postgresql " + (end < 0 ? text : text[..end]).ToString().ToUpperInvariant();
    }

    public static DbContextOptions<PlatformDbContext> Options(string connectionString) =>
        new DbContextOptionsBuilder<PlatformDbContext>().UseNpgsql(connectionString).Options;

    /// <summary>Applies pending migrations; safe to run concurrently (EF Core takes a migration lock).</summary>
    public static async Task MigrateAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        await using var db = new PlatformDbContext(Options(connectionString));
        await db.Database.MigrateAsync(cancellationToken);
    }
}
