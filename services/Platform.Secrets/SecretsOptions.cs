using Microsoft.Extensions.Options;

namespace Platform.Secrets;

/// <summary>
/// Where the master key comes from (<c>Platform:Secrets</c>): a file, or the key itself. It protects the Data Protection
/// key ring and must never be stored in the database that holds the ring (see docs/secrets.md).
/// </summary>
public sealed class SecretsOptions
{
    public const string Section = "Platform:Secrets";

    /// <summary>Path of a file holding the master key: base64 of 32 bytes (surrounding whitespace ignored).</summary>
    public string? MasterKeyFile { get; set; }

    /// <summary>The master key itself, base64 of 32 bytes (for environments that hand secrets over as variables).</summary>
    public string? MasterKey { get; set; }
}

/// <summary>Fails the host at start, naming the setting, when the master key is missing or unusable.</summary>
public sealed class SecretsOptionsValidation : IValidateOptions<SecretsOptions>
{
    public ValidateOptionsResult Validate(string? name, SecretsOptions options)
    {
        try
        {
            Platform.Secrets.MasterKey.From(options);
            return ValidateOptionsResult.Success;
        }
        catch (InvalidOperationException ex)
        {
            return ValidateOptionsResult.Fail(ex.Message);
        }
    }
}
