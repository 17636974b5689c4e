using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;
using Microsoft.AspNetCore.DataProtection.XmlEncryption;
using Microsoft.Extensions.DependencyInjection;

namespace Platform.Secrets;

/// <summary>
/// Encrypts each Data Protection key's XML with the master key (AES-256-GCM) before the key ring stores it in
/// PostgreSQL, so the rows alone decrypt nothing. The framework's certificate protection would need an X.509 certificate
/// where we have a 32-byte key; this is the same idea in a few lines of the platform's own.
/// </summary>
public sealed class MasterKeyXmlEncryptor(MasterKey masterKey) : IXmlEncryptor
{
    internal const string ElementName = "encryptedKey";
    internal const int NonceLength = 12;
    internal const int TagLength = 16;

    // Binds each ciphertext to what it is, so no other AES-GCM payload under the same key can be passed off as a ring key.
    internal static readonly byte[] AssociatedData = "Platform.Secrets.KeyRing.v1"u8.ToArray();

    public EncryptedXmlInfo Encrypt(XElement plaintextElement)
    {
        var plaintext = Encoding.UTF8.GetBytes(plaintextElement.ToString(SaveOptions.DisableFormatting));
        var nonce = RandomNumberGenerator.GetBytes(NonceLength);
        var ciphertext = new byte[plaintext.Length];
        var tag = new byte[TagLength];
        using (var aes = new AesGcm(masterKey.Bytes, TagLength))
            aes.Encrypt(nonce, plaintext, ciphertext, tag, AssociatedData);
        CryptographicOperations.ZeroMemory(plaintext);

        var element = new XElement(ElementName,
            new XAttribute("masterKeyId", masterKey.Id),
            new XComment(" AES-256-GCM under the platform's master key (Platform:Secrets), which is not in this database. "),
            new XElement("nonce", Convert.ToBase64String(nonce)),
            new XElement("tag", Convert.ToBase64String(tag)),
            new XElement("value", Convert.ToBase64String(ciphertext)));
        return new EncryptedXmlInfo(element, typeof(MasterKeyXmlDecryptor));
    }
}

/// <summary>
/// The other half of <see cref="MasterKeyXmlEncryptor"/>. Data Protection creates it by type name from the stored XML,
/// with the service provider, which holds the master key.
/// </summary>
public sealed class MasterKeyXmlDecryptor : IXmlDecryptor
{
    readonly MasterKey _masterKey;

    public MasterKeyXmlDecryptor(IServiceProvider services)
    {
        _masterKey = services.GetRequiredService<MasterKey>();
    }

    public MasterKeyXmlDecryptor(MasterKey masterKey)
    {
        _masterKey = masterKey;
    }

    public XElement Decrypt(XElement encryptedElement)
    {
        if (encryptedElement.Name != MasterKeyXmlEncryptor.ElementName)
            throw new CryptographicException($"expected an <{MasterKeyXmlEncryptor.ElementName}> element, found <{encryptedElement.Name}>");

        var keyId = (string?)encryptedElement.Attribute("masterKeyId");
        if (keyId != _masterKey.Id)
            throw new CryptographicException(
                $"this Data Protection key was encrypted with master key {keyId}, but this service's master key is {_masterKey.Id}: " +
                "every service must have the same Platform:Secrets master key (see docs/secrets.md, rotating the master key)");

        var nonce = Part(encryptedElement, "nonce");
        var tag = Part(encryptedElement, "tag");
        var ciphertext = Part(encryptedElement, "value");
        if (nonce.Length != MasterKeyXmlEncryptor.NonceLength || tag.Length != MasterKeyXmlEncryptor.TagLength)
            throw new CryptographicException("the encrypted Data Protection key is malformed (nonce or tag length)");

        var plaintext = new byte[ciphertext.Length];
        try
        {
            using (var aes = new AesGcm(_masterKey.Bytes, MasterKeyXmlEncryptor.TagLength))
                aes.Decrypt(nonce, ciphertext, tag, plaintext, MasterKeyXmlEncryptor.AssociatedData);
            return XElement.Parse(Encoding.UTF8.GetString(plaintext));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    static byte[] Part(XElement element, string name)
    {
        var value = element.Element(name)?.Value ?? throw new CryptographicException($"the encrypted Data Protection key has no <{name}>");
        try
        {
            return Convert.FromBase64String(value);
        }
        catch (FormatException)
        {
            throw new CryptographicException($"the encrypted Data Protection key's <{name}> is not base64");
        }
    }
}
