using System.Security.Cryptography;
using System.Text;

namespace Platform.Secrets;

/// <summary>The 256-bit key that encrypts the Data Protection key ring's XML (<see cref="MasterKeyXmlEncryptor"/>).</summary>
public sealed class MasterKey
{
    public const int Length = 32;

    readonly byte[] _key;

    public MasterKey(byte[] key)
    {
        if (key.Length != Length)
            throw new ArgumentException($"a master key is {Length} bytes, not {key.Length}", nameof(key));
        _key = (byte[])key.Clone();
        // Names the key without revealing it, so a decryption with the wrong key can say so instead of "tag mismatch".
        Id = Convert.ToHexStringLower(SHA256.HashData([.. "platform-master-key-id:"u8, .. _key]))[..16];
    }

    /// <summary>A fingerprint of the key, stored beside each ring key it encrypts.</summary>
    public string Id { get; }

    internal ReadOnlySpan<byte> Bytes => _key;

    /// <summary>A fresh random key as base64: what <c>infra/demo.sh</c> and the tests write to their key file.</summary>
    public static string Generate() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(Length));

    /// <summary>Reads the configured key; the exception's message names the setting and what is wrong with it.</summary>
    public static MasterKey From(SecretsOptions options)
    {
        var file = options.MasterKeyFile is { Length: > 0 } path ? path : null;
        var inline = options.MasterKey is { Length: > 0 } key ? key : null;
        if (file is null && inline is null)
            throw new InvalidOperationException(
                "No master key: set Platform:Secrets:MasterKeyFile (a file holding base64 of 32 random bytes) or Platform:Secrets:MasterKey " +
                "(Platform__Secrets__MasterKeyFile / Platform__Secrets__MasterKey). It encrypts the users' provider keys at rest; " +
                "`openssl rand -base64 32` makes one. See docs/secrets.md.");
        if (file is not null && inline is not null)
            throw new InvalidOperationException("Both Platform:Secrets:MasterKeyFile and Platform:Secrets:MasterKey are set: set only one.");

        string text;
        string source;
        if (file is not null)
        {
            source = $"Platform:Secrets:MasterKeyFile ({file})";
            try
            {
                text = File.ReadAllText(file, Encoding.UTF8);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"{source} cannot be read: {ex.Message}", ex);
            }
        }
        else
        {
            source = "Platform:Secrets:MasterKey";
            text = inline!;
        }

        byte[] bytes;
        try
        {
            bytes = Convert.FromBase64String(text.Trim());
        }
        catch (FormatException)
        {
            throw new InvalidOperationException($"{source} is not base64: it must hold base64 of {Length} random bytes.");
        }

        if (bytes.Length != Length)
            throw new InvalidOperationException($"{source} holds {bytes.Length} bytes: a master key is base64 of exactly {Length} bytes.");
        return new MasterKey(bytes);
    }
}
