using System.ClientModel;
using System.ClientModel.Primitives;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Platform.Data;

namespace Platform.Worker.Research;

/// <summary>
/// What a provider's error means for the task, in words its user can act on. Rate limits, server errors, timeouts and
/// connection errors are transient and retried no earlier than the provider's hint; a refused key, an account without
/// quota or payment, and a request the provider cannot serve fail at once, because repeating them cannot help. The key
/// never appears in a message: the provider's own text is quoted only where it cannot hold the key, and scrubbed anyway.
/// </summary>
public static partial class ProviderFailures
{
    /// <summary>No provider hint ever holds a task back longer than this.</summary>
    static readonly TimeSpan MaxHint = TimeSpan.FromHours(1);

    public static ResearchFailedException From(ClientResultException ex, ProviderCredential credential)
    {
        var response = ex.GetRawResponse();
        var status = response?.Status ?? ex.Status;
        if (status == 0)
            return new ResearchFailedException($"could not reach the provider at {credential.BaseUrl} ({Scrub(ex.InnerException?.Message ?? ex.Message, credential)})", transient: true);

        var (type, code, message) = ErrorBody(response);
        var reason = code ?? type;
        var named = reason is null ? $"{status}" : $"{status} {reason}";
        return status switch
        {
            429 when code == "insufficient_quota" || type == "insufficient_quota" =>
                new ResearchFailedException("the provider account has no quota left (insufficient_quota)", transient: false),
            429 => new ResearchFailedException($"the provider's rate limit was reached ({named})", transient: true, RetryAfter(response, rateLimited: true),
                rateLimited: true, limits: Limits(response?.Headers)),
            401 => new ResearchFailedException($"the provider rejected the API key ({named})", transient: false, credentialRejected: true),
            403 => new ResearchFailedException($"the provider refused the API key access ({named})", transient: false, credentialRejected: true),
            402 => new ResearchFailedException($"the provider account needs payment ({named})", transient: false),
            404 => new ResearchFailedException($"the provider does not serve model '{credential.Model}' at {credential.BaseUrl} ({named})", transient: false),
            408 or 409 or >= 500 => new ResearchFailedException($"the provider failed ({named})", transient: true, RetryAfter(response, rateLimited: false)),
            _ => new ResearchFailedException(
                $"the provider refused the request ({named}){(message is null ? "" : ": " + Scrub(Shorten(message), credential))}", transient: false),
        };
    }

    public static ResearchFailedException Timeout(TimeSpan timeout) =>
        new($"the provider did not answer within {timeout.TotalSeconds:0.#} s", transient: true);

    public static ResearchFailedException Unreachable(Exception ex, ProviderCredential credential) =>
        new($"could not reach the provider at {credential.BaseUrl} ({Scrub(ex.Message, credential)})", transient: true);

    /// <summary>Whether a 400 says the provider has no such response_format (then a simpler one is tried).</summary>
    public static bool IsUnsupportedResponseFormat(ClientResultException ex)
    {
        if (ex.Status != 400)
            return false;
        var (_, _, message) = ErrorBody(ex.GetRawResponse());
        var param = Param(ex.GetRawResponse());
        return param == "response_format"
               || message?.Contains("response_format", StringComparison.OrdinalIgnoreCase) == true
               || message?.Contains("json_schema", StringComparison.OrdinalIgnoreCase) == true;
    }

    /// <summary>
    /// The provider's hint for the next attempt: <c>retry-after-ms</c>, then <c>Retry-After</c> (seconds or an HTTP date),
    /// then, for a rate limit, <c>x-ratelimit-reset-requests</c>/<c>-tokens</c> (of the budget that ran out, else the later).
    /// </summary>
    public static TimeSpan? RetryAfter(PipelineResponse? response, bool rateLimited)
    {
        if (response is null)
            return null;
        var headers = response.Headers;
        if (headers.TryGetValue("retry-after-ms", out var ms) && double.TryParse(ms, NumberStyles.Float, CultureInfo.InvariantCulture, out var milliseconds) && milliseconds >= 0)
            return Cap(TimeSpan.FromMilliseconds(milliseconds));
        if (headers.TryGetValue("Retry-After", out var retryAfter) && retryAfter is not null)
        {
            if (double.TryParse(retryAfter, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0)
                return Cap(TimeSpan.FromSeconds(seconds));
            if (DateTimeOffset.TryParse(retryAfter, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
                return Cap(at - DateTimeOffset.UtcNow);
        }

        if (!rateLimited)
            return null;
        var requests = headers.TryGetValue("x-ratelimit-reset-requests", out var r) ? ParseReset(r) : null;
        var tokens = headers.TryGetValue("x-ratelimit-reset-tokens", out var t) ? ParseReset(t) : null;
        var requestsLeft = headers.TryGetValue("x-ratelimit-remaining-requests", out var rl) && int.TryParse(rl, CultureInfo.InvariantCulture, out var rv) ? rv : (int?)null;
        var tokensLeft = headers.TryGetValue("x-ratelimit-remaining-tokens", out var tl) && int.TryParse(tl, CultureInfo.InvariantCulture, out var tv) ? tv : (int?)null;
        if (requestsLeft == 0 && tokensLeft != 0 && requests is not null)
            return Cap(requests.Value);
        if (tokensLeft == 0 && requestsLeft != 0 && tokens is not null)
            return Cap(tokens.Value);
        return requests is null && tokens is null ? null : Cap(new[] { requests ?? TimeSpan.Zero, tokens ?? TimeSpan.Zero }.Max());
    }

    /// <summary>The credential's limits from <c>x-ratelimit-limit-requests</c>/<c>-tokens</c>; null when neither is there.</summary>
    public static ProviderLimits? Limits(PipelineResponseHeaders? headers)
    {
        if (headers is null)
            return null;
        int? Read(string name) => headers.TryGetValue(name, out var text) && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v > 0 ? v : null;
        int? Remaining(string name) => headers.TryGetValue(name, out var text) && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0 ? v : null;
        var (rpm, tpm) = (Read("x-ratelimit-limit-requests"), Read("x-ratelimit-limit-tokens"));
        return rpm is null && tpm is null ? null
            : new ProviderLimits(rpm, tpm, Remaining("x-ratelimit-remaining-requests"), Remaining("x-ratelimit-remaining-tokens"));
    }

    /// <summary>OpenAI's reset durations: "20ms", "1s", "8.64s", "6m0s", "1h2m3s".</summary>
    public static TimeSpan? ParseReset(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
            return null;
        var match = ResetFormat().Match(text.Trim());
        if (!match.Success || match.Length == 0)
            return null;
        double Part(string name) => match.Groups[name].Success ? double.Parse(match.Groups[name].Value, CultureInfo.InvariantCulture) : 0;
        return TimeSpan.FromHours(Part("h")) + TimeSpan.FromMinutes(Part("m")) + TimeSpan.FromSeconds(Part("s")) + TimeSpan.FromMilliseconds(Part("ms"));
    }

    static TimeSpan Cap(TimeSpan hint) => hint < TimeSpan.Zero ? TimeSpan.Zero : hint > MaxHint ? MaxHint : hint;

    static (string? Type, string? Code, string? Message) ErrorBody(PipelineResponse? response)
    {
        try
        {
            using var document = JsonDocument.Parse(response?.Content.ToMemory() ?? ReadOnlyMemory<byte>.Empty);
            if (!document.RootElement.TryGetProperty("error", out var error) || error.ValueKind != JsonValueKind.Object)
                return (null, null, null);
            return (Text(error, "type"), Text(error, "code"), Text(error, "message"));
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return (null, null, null);
        }
    }

    static string? Param(PipelineResponse? response)
    {
        try
        {
            using var document = JsonDocument.Parse(response?.Content.ToMemory() ?? ReadOnlyMemory<byte>.Empty);
            return document.RootElement.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object ? Text(error, "param") : null;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return null;
        }
    }

    static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } s ? s : null;

    static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";

    /// <summary>Takes out the key, should a provider or a library ever quote it.</summary>
    public static string Scrub(string text, ProviderCredential credential) =>
        credential.ApiKey.Length >= 4 ? text.Replace(credential.ApiKey, "[key]", StringComparison.Ordinal) : text;

    [GeneratedRegex(@"^(?:(?<h>\d+(?:\.\d+)?)h)?(?:(?<m>\d+(?:\.\d+)?)m(?!s))?(?:(?<s>\d+(?:\.\d+)?)s)?(?:(?<ms>\d+(?:\.\d+)?)ms)?$")]
    private static partial Regex ResetFormat();
}
