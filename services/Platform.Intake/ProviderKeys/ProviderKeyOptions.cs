using System.ComponentModel.DataAnnotations;

namespace Platform.Intake.ProviderKeys;

/// <summary>
/// What the intake needs of the platform's provider settings (<c>Platform:Provider</c>, shared with the worker): the
/// defaults for a user's key given without a base URL or model, and how long the key's check may take.
/// </summary>
public sealed class ProviderKeyOptions
{
    public const string Section = "Platform:Provider";

    /// <summary>The platform's provider (OpenAI-compatible API root, e.g. <c>https://api.openai.com/v1</c>); unset: none.</summary>
    public Uri? BaseUrl { get; set; }

    [Required, MinLength(1)]
    public string Model { get; set; } = "gpt-4o-mini";

    /// <summary>How long the check of a new key (<c>GET {baseUrl}/models</c>) may take before the PUT answers 504.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan KeyCheckTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
