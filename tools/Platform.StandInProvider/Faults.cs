using System.Text.Json.Serialization;

namespace Platform.StandInProvider;

/// <summary>
/// A fault to inject into the next <see cref="Count"/> chat completions (of <see cref="Key"/> only, when given): an
/// error status with OpenAI's body for it, or a hang of <see cref="HangMs"/> before the answer.
/// </summary>
public sealed record Fault(
    [property: JsonPropertyName("status")] int? Status = null,
    [property: JsonPropertyName("hangMs")] int? HangMs = null,
    [property: JsonPropertyName("count")] int Count = 1,
    [property: JsonPropertyName("key")] string? Key = null,
    [property: JsonPropertyName("code")] string? Code = null,
    [property: JsonPropertyName("retryAfterMs")] int? RetryAfterMs = null);

/// <summary>The faults waiting to be injected, first in first out.</summary>
public sealed class Faults
{
    readonly Lock _lock = new();
    readonly List<(Fault Fault, int Left)> _pending = [];

    public void Add(Fault fault)
    {
        lock (_lock)
            _pending.Add((fault, Math.Max(1, fault.Count)));
    }

    public void Clear()
    {
        lock (_lock)
            _pending.Clear();
    }

    public Fault? Take(string key)
    {
        lock (_lock)
        {
            var index = _pending.FindIndex(p => p.Fault.Key is null || p.Fault.Key == key);
            if (index < 0)
                return null;
            var (fault, left) = _pending[index];
            if (left <= 1)
                _pending.RemoveAt(index);
            else
                _pending[index] = (fault, left - 1);
            return fault;
        }
    }
}

/// <summary>One call as the stand-in saw it, for tests: which key, which model, the tokens it counted, how it answered.</summary>
public sealed record Call(
    [property: JsonPropertyName("key")] string Key,
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("model")] string? Model,
    [property: JsonPropertyName("promptTokens")] int PromptTokens,
    [property: JsonPropertyName("completionTokens")] int CompletionTokens,
    [property: JsonPropertyName("status")] int Status,
    [property: JsonPropertyName("at")] DateTimeOffset At,
    [property: JsonPropertyName("error")] string? Error);

public sealed class CallLog
{
    readonly Lock _lock = new();
    readonly List<Call> _calls = [];

    public void Add(Call call)
    {
        lock (_lock)
            _calls.Add(call);
    }

    public Call[] All()
    {
        lock (_lock)
            return [.. _calls];
    }

    public void Clear()
    {
        lock (_lock)
            _calls.Clear();
    }
}
