using System.Text.Json.Nodes;

namespace Platform.Worker.Research;

/// <summary>
/// The provider account a task runs on. <see cref="CredentialId"/> is null for the platform's own; otherwise it names the
/// user's key (<c>provider_keys.credential_id</c>), decrypted just before the call. Never logged, traced or published.
/// </summary>
public sealed record ProviderCredential(Guid? CredentialId, string ApiKey, Uri BaseUrl, string Model)
{
    // A record prints its members: keep the key out of any log line or exception message that formats one.
    public override string ToString() => $"ProviderCredential {{ CredentialId = {CredentialId}, BaseUrl = {BaseUrl}, Model = {Model} }}";
}

/// <summary>One attempt of a task. <see cref="Credential"/>: the user's own key when they have an active one, else null.</summary>
public sealed record ResearchRequest(Guid TaskId, string Key, string Instructions, JsonObject Input, int Attempt, ProviderCredential? Credential = null);

public sealed record TokenUsage(int PromptTokens, int CompletionTokens, string Model);

public sealed record ResearchOutcome(JsonObject Result, TokenUsage? Usage);

/// <summary>Runs one research task and returns its result object. Throws <see cref="ResearchFailedException"/> to fail it.</summary>
public interface IResearchExecutor
{
    Task<ResearchOutcome> Execute(ResearchRequest request, IProgress<string> stage, CancellationToken cancellationToken);
}

/// <summary>A failed attempt. Transient failures are retried (with backoff) up to the configured attempts; permanent ones are not.</summary>
public sealed class ResearchFailedException(string message, bool transient, TimeSpan? retryAfter = null, bool credentialRejected = false)
    : Exception(message)
{
    public bool Transient { get; } = transient;

    /// <summary>The provider asked us to wait this long (Retry-After) before the next attempt.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;

    /// <summary>The provider refused the key itself (401/403): a user's key is then set aside and the task retried on the platform's.</summary>
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
