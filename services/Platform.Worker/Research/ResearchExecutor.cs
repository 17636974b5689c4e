using System.Text.Json.Nodes;
using Platform.Data;

namespace Platform.Worker.Research;

/// <summary>The provider account a task runs on. <see cref="CredentialId"/> is null for the platform's own.</summary>
public sealed record ProviderCredential(Guid? CredentialId, string ApiKey, Uri BaseUrl, string Model)
{
    // The key never appears in a log line, a trace or an exception text, however the record is printed.
    public override string ToString() => $"ProviderCredential {{ CredentialId = {CredentialId}, BaseUrl = {BaseUrl}, Model = {Model} }}";
}

/// <param name="Credential">The user's own provider key, when they have one; null: the platform's provider, if configured.</param>
public sealed record ResearchRequest(Guid TaskId, string Key, string Instructions, JsonObject Input, int Attempt, ProviderCredential? Credential = null);

/// <summary>What a provider counted for one task, and which model answered.</summary>
public sealed record TokenUsage(int PromptTokens, int CompletionTokens, string Model);

/// <param name="Usage">Null when no provider ran (the simulated executor).</param>
/// <param name="Limits">The credential's limits as the provider's headers stated them, to learn its budget.</param>
/// <param name="HeldTokens">What the call held of the provider's token budget while it ran (prompt plus the answer's ceiling).</param>
public sealed record ResearchOutcome(JsonObject Result, TokenUsage? Usage, ProviderLimits? Limits = null, int? HeldTokens = null);

/// <summary>Runs one research task and returns its result object. Throws <see cref="ResearchFailedException"/> to fail it.</summary>
public interface IResearchExecutor
{
    Task<ResearchOutcome> Execute(ResearchRequest request, IProgress<string> stage, CancellationToken cancellationToken);
}

/// <summary>A failed attempt. Transient failures are retried (with backoff) up to the configured attempts; permanent ones are not.</summary>
public sealed class ResearchFailedException(string message, bool transient, TimeSpan? retryAfter = null, bool credentialRejected = false,
    bool rateLimited = false, ProviderLimits? limits = null)
    : Exception(message)
{
    /// <summary>The provider refused the call for its rate limit (429 rate_limit_exceeded): the credential pauses until the hint.</summary>
    public bool RateLimited { get; } = rateLimited;

    /// <summary>The credential's limits as the refusal's headers stated them.</summary>
    public ProviderLimits? Limits { get; } = limits;

    public bool Transient { get; } = transient;

    /// <summary>The provider asked us to wait this long (Retry-After) before the next attempt.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>The provider refused the key itself (401/403): no task on this credential can succeed until it changes.</summary>
    public bool CredentialRejected { get; } = credentialRejected;
}

/// <summary>The executor failed in a way that is not a research outcome (a defect): the delivery faults without retrying.</summary>
public sealed class ExecutorCrashedException(Guid taskId, Exception inner)
    : Exception($"the research executor crashed ({inner.GetType().Name}: {inner.Message})", inner)
{
    public Guid TaskId { get; } = taskId;
}

public static class Instructions
{
    /// <summary>Fills <c>{field}</c> placeholders of the batch's instructions from the task's input.</summary>
    public static string Fill(string template, JsonObject input)
    {
        var text = template;
        foreach (var (name, value) in input)
        {
            if (value is JsonValue v)
                text = text.Replace("{" + name + "}", v.ToString(), StringComparison.Ordinal);
        }

        return text;
    }
}
