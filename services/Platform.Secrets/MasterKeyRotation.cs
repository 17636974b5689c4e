using System.Xml.Linq;
using Microsoft.EntityFrameworkCore;
using Platform.Data;

namespace Platform.Secrets;

/// <summary>
/// Rotating the master key: every key of the Data Protection ring is decrypted with the current master key and
/// encrypted again with the next one, in one transaction. The users' protected provider keys do not change (they are
/// protected by the ring's keys, which stay the same); only what unlocks the ring does. See docs/secrets.md.
/// </summary>
public static class MasterKeyRotation
{
    static readonly XName EncryptedSecret = XName.Get("encryptedSecret", "http://schemas.asp.net/2015/03/dataProtection");

    /// <summary>Re-encrypts the ring under <paramref name="next"/>; returns how many ring keys changed (0 when run again).</summary>
    public static async Task<int> Rewrap(PlatformDbContext db, MasterKey current, MasterKey next, CancellationToken cancellationToken = default)
    {
        var decryptor = new MasterKeyXmlDecryptor(current);
        var encryptor = new MasterKeyXmlEncryptor(next);
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        // Locked, so that a ring key written meanwhile (by an intake still on the current key) waits for this commit.
        await db.Database.ExecuteSqlRawAsync("LOCK TABLE data_protection_keys IN EXCLUSIVE MODE", cancellationToken);
        var rows = await db.DataProtectionKeys.ToListAsync(cancellationToken);
        var changed = 0;
        foreach (var row in rows)
        {
            var key = XElement.Parse(row.Xml ?? throw new InvalidOperationException($"ring key row {row.Id} has no XML"));
            var rewrapped = false;
            foreach (var secret in key.Descendants(EncryptedSecret).ToList())
            {
                var encrypted = secret.Elements().Single();
                // Already under the next key: a rotation that is run again changes nothing.
                if ((string?)encrypted.Attribute("masterKeyId") == next.Id)
                    continue;
                var replacement = encryptor.Encrypt(decryptor.Decrypt(encrypted));
                encrypted.ReplaceWith(replacement.EncryptedElement);
                rewrapped = true;
            }

            if (rewrapped)
            {
                row.Xml = key.ToString(SaveOptions.DisableFormatting);
                changed++;
            }
        }

        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return changed;
    }
}
