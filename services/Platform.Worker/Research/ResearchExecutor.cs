using System.Text.Json.Nodes;

namespace Platform.Worker.Research;

public sealed record ResearchRequest(Guid TaskId, string Key, string Instructions, JsonObject Input, int Attempt);

/// <summary>Runs one research task and returns its result object. Throws <see cref="ResearchFailedException"/> to fail it.</summary>
public interface IResearchExecutor
{
    Task<JsonObject> Execute(ResearchRequest request, IProgress<string> stage, CancellationToken cancellationToken);
}

/// <summary>A failed attempt. Transient failures are retried (with backoff) up to the configured attempts; permanent ones are not.</summary>
public sealed class ResearchFailedException(string message, bool transient, TimeSpan? retryAfter = null) : Exception(message)
{
    public bool Transient { get; } = transient;

    /// <summary>The provider asked us to wait this long (Retry-After) before the next attempt.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
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
