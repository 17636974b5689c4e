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
        services.AddSingleton(_ => new NpgsqlDataSourceBuilder(connectionString).Build());
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

    public static DbContextOptions<PlatformDbContext> Options(string connectionString) =>
        new DbContextOptionsBuilder<PlatformDbContext>().UseNpgsql(connectionString).Options;

    /// <summary>Applies pending migrations; safe to run concurrently (EF Core takes a migration lock).</summary>
    public static async Task MigrateAsync(string connectionString, CancellationToken cancellationToken = default)
    {
        await using var db = new PlatformDbContext(Options(connectionString));
        await db.Database.MigrateAsync(cancellationToken);
    }
}
