using System.Net.Http.Json;
using System.Text.Json.Serialization;

namespace Platform.Testing;

/// <summary>
/// tools/Platform.StandInProvider as its own process on a free loopback port: an OpenAI-compatible provider with
/// OpenAI's rate limits, injectable faults and a record of every call (see docs/providers.md).
/// </summary>
public sealed class StandInProviderProcess : IAsyncDisposable
{
    readonly ServiceProcess _process;
    readonly HttpClient _http;

    StandInProviderProcess(ServiceProcess process)
    {
        _process = process;
        _http = new HttpClient { BaseAddress = process.BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>The base URL a client is given (<c>Platform__Provider__BaseUrl</c>): the stand-in's <c>/v1</c>.</summary>
    public Uri BaseUrl => new(_process.BaseAddress, "/v1/");

    public ServiceProcess Process => _process;

    /// <param name="settings">StandIn options, e.g. <c>["StandIn__LatencyMs"] = "50"</c>.</param>
    public static async Task<StandInProviderProcess> Start(IReadOnlyDictionary<string, string>? settings = null, string name = "standin")
    {
        var environment = new Dictionary<string, string>
        {
            ["StandIn__LatencyMs"] = "50",
            ["StandIn__LatencyPerTokenMs"] = "0.5",
            ["Logging__LogLevel__Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
            environment[key] = value;
        return new StandInProviderProcess(await ServiceProcess.StartBuilt(Path.Combine("tools", "Platform.StandInProvider"), name, environment));
    }

    /// <summary>Injects a fault into the next <c>count</c> completions (of <c>key</c> only, when given).</summary>
    public async Task InjectFault(int? status = null, int? hangMs = null, int count = 1, string? key = null, int? retryAfterMs = null, string? code = null)
    {
        using var response = await _http.PostAsJsonAsync("/_standin/faults", new { status, hangMs, count, key, retryAfterMs, code });
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Drops the faults not injected yet.</summary>
    public async Task ClearFaults()
    {
        using var response = await _http.DeleteAsync("/_standin/faults");
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Sets a key's requests and tokens per minute (every key's when <paramref name="key"/> is null).</summary>
    public async Task SetLimits(int requestsPerMinute, int tokensPerMinute, string? key = null)
    {
        using var response = await _http.PostAsJsonAsync("/_standin/limits", new { key, requestsPerMinute, tokensPerMinute });
        response.EnsureSuccessStatusCode();
    }

    public async Task<IReadOnlyList<StandInCall>> Calls() =>
        await _http.GetFromJsonAsync<StandInCall[]>("/_standin/calls") ?? [];

    /// <summary>The chat completions the stand-in answered (the calls a client's usage comes from).</summary>
    public async Task<IReadOnlyList<StandInCall>> Completions() =>
        [.. (await Calls()).Where(c => c.Path == "/v1/chat/completions")];

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _process.DisposeAsync();
    }
}

public sealed record StandInCall(
    [property: JsonPropertyName("key")] string Key,
    [property: JsonPropertyName("path")] string Path,
    [property: JsonPropertyName("model")] string? Model,
    [property: JsonPropertyName("promptTokens")] int PromptTokens,
    [property: JsonPropertyName("completionTokens")] int CompletionTokens,
    [property: JsonPropertyName("status")] int Status,
    [property: JsonPropertyName("at")] DateTimeOffset At,
    [property: JsonPropertyName("error")] string? Error);
