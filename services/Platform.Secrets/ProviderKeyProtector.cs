using Microsoft.AspNetCore.DataProtection;

namespace Platform.Secrets;

/// <summary>
/// Protects a user's provider key for storage and recovers it in the worker just before a call. The user id is part of
/// the purpose, so a payload copied onto another user's row does not decrypt.
/// </summary>
public sealed class ProviderKeyProtector(IDataProtectionProvider provider)
{
    const string Purpose = "Platform.ProviderKeys.v1";

    public string Protect(string userId, string apiKey) => provider.CreateProtector(Purpose, userId).Protect(apiKey);

    /// <exception cref="System.Security.Cryptography.CryptographicException">The payload is not this user's, or the key ring cannot decrypt it.</exception>
    public string Unprotect(string userId, string protectedKey) => provider.CreateProtector(Purpose, userId).Unprotect(protectedKey);

    /// <summary>What the API shows of a key: its last four characters.</summary>
    public static string Hint(string apiKey) => "…" + (apiKey.Length > 4 ? apiKey[^4..] : "");
}
