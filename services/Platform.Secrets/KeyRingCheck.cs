using System.Data.Common;
using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Platform.Data;

namespace Platform.Secrets;

/// <summary>
/// At start: decrypts every key of the ring, so a service given another master key than the one that protected the
/// ring stops at once with a message that says so, rather than failing each user's task later. A writer (the intake)
/// also makes the ring's first key if there is none, one writer at a time: two intakes starting on an empty ring would
/// otherwise each make one, and a worker that had read the ring between the two would not know the second.
/// </summary>
public sealed partial class KeyRingCheck(IKeyManager keys, IServiceScopeFactory scopes, bool makesFirstKey, ILogger<KeyRingCheck> logger)
    : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        int count;
        try
        {
            if (makesFirstKey)
                await MakeFirstKey(cancellationToken);
            var all = keys.GetAllKeys();
            foreach (var key in all)
                _ = key.Descriptor;
            count = all.Count;
        }
        catch (Exception ex) when (Find<CryptographicException>(ex) is { } crypto)
        {
            throw new InvalidOperationException(
                $"The master key (Platform:Secrets) does not decrypt the Data Protection key ring in the database: {crypto.Message}", ex);
        }
        catch (Exception ex) when (Find<DbException>(ex) is not null)
        {
            // The database may be restarting; the ring is read again when a key is first needed.
            LogUnchecked(logger, ex.GetBaseException().Message);
            return;
        }

        LogChecked(logger, count);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    async Task MakeFirstKey(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        await db.Database.ExecuteSqlRawAsync("SELECT pg_advisory_xact_lock(hashtextextended('platform-data-protection-ring', 0))", cancellationToken);
        if (keys.GetAllKeys().Count == 0)
        {
            var now = DateTimeOffset.UtcNow;
            var key = keys.CreateNewKey(activationDate: now, expirationDate: now.AddDays(90));
            LogFirstKey(logger, key.KeyId);
        }

        await tx.CommitAsync(cancellationToken);
    }

    static T? Find<T>(Exception? ex) where T : Exception
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is T found)
                return found;
        }

        return null;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "The master key decrypts the Data Protection key ring ({Count} keys)")]
    static partial void LogChecked(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Made the Data Protection key ring's first key {KeyId}")]
    static partial void LogFirstKey(ILogger logger, Guid keyId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The Data Protection key ring could not be read at start ({Error}); it is checked when first used")]
    static partial void LogUnchecked(ILogger logger, string error);
}
