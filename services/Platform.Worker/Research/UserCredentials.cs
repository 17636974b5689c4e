using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Platform.Data;
using Platform.Data.Model;
using Platform.Secrets;

namespace Platform.Worker.Research;

/// <summary>
/// The user's own provider key, decrypted here, just before the attempt that uses it: messages carry no key, and the
/// plaintext lives only in this attempt's <see cref="ResearchRequest"/>.
/// </summary>
public sealed class UserCredentials(PlatformDbContext db, ProviderKeyProtector protector)
{
    /// <summary>The user's active key, or null: the task runs on the platform's credential.</summary>
    /// <exception cref="ResearchFailedException">Transient: the key is stored but this worker cannot decrypt it.</exception>
    public async Task<ProviderCredential?> Active(string userId, CancellationToken cancellationToken)
    {
        var key = await db.ProviderKeys.AsNoTracking()
            .Where(k => k.UserId == userId && k.Status == ProviderKeyStatuses.Active)
            .Select(k => new { k.CredentialId, k.ProtectedKey, k.BaseUrl, k.Model })
            .SingleOrDefaultAsync(cancellationToken);
        if (key is null)
            return null;

        try
        {
            return new ProviderCredential(key.CredentialId, protector.Unprotect(userId, key.ProtectedKey), new Uri(key.BaseUrl), key.Model);
        }
        // CryptographicException: the payload or its ring key does not open here; InvalidOperationException: this worker
        // sees no ring key it can decrypt at all.
        catch (Exception ex) when (ex is CryptographicException or InvalidOperationException)
        {
            // Not the user's fault and not to be papered over with the platform's key: retried, and KeyRingCheck names
            // the usual cause (another master key) when the worker starts.
            throw new ResearchFailedException(
                $"this worker cannot decrypt the user's provider key (credential {key.CredentialId}): is its Platform:Secrets master key the intake's?",
                transient: true);
        }
    }
}
