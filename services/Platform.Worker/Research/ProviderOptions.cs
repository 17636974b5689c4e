using System.ComponentModel.DataAnnotations;

namespace Platform.Worker.Research;

/// <summary>The platform's own provider account: every user without a key of their own runs on it. See docs/providers.md.</summary>
public sealed class ProviderOptions
{
    public const string Section = "Platform:Provider";

    /// <summary>An OpenAI-compatible API's base URL (…/v1). Unset: no platform provider, tasks run on the simulated executor.</summary>
    public Uri? BaseUrl { get; set; }

    /// <summary>The platform's key for <see cref="BaseUrl"/>; may stay unset for a local server that wants none (Ollama, vLLM).</summary>
    public string? ApiKey { get; set; }

    public string Model { get; set; } = "gpt-4o-mini";

    /// <summary>The most tokens one answer may take (max_completion_tokens); an answer cut off there fails the task.</summary>
    [Range(16, 1_000_000)]
    public int MaxOutputTokens { get; set; } = 1024;

    /// <summary>How long one call may take, answer included; past it the attempt fails transiently and is retried.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The platform key's requests and tokens per minute. Unset: learned from the provider's <c>x-ratelimit-limit-*</c>
    /// headers (unknown until then, and nothing is held back); set, they win over the headers.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int? Rpm { get; set; }

    [Range(1, int.MaxValue)]
    public int? Tpm { get; set; }

    public bool Configured => BaseUrl is not null;
}
