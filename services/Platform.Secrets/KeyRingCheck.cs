using System.Data.Common;
using System.Security.Cryptography;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Platform.Secrets;

/// <summary>
/// Decrypts every key of the ring at start, so a service given another master key than the one that protected the
/// ring stops at once with a message that says so, rather than failing each user's task later.
/// </summary>
public sealed partial class KeyRingCheck(IKeyManager keys, ILogger<KeyRingCheck> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        int count;
        try
        {
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
            return Task.CompletedTask;
        }

        LogChecked(logger, count);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

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

    [LoggerMessage(Level = LogLevel.Warning, Message = "The Data Protection key ring could not be read at start ({Error}); it is checked when first used")]
    static partial void LogUnchecked(ILogger logger, string error);
}
