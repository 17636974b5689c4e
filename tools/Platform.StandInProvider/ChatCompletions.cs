using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;

namespace Platform.StandInProvider;

/// <summary>
/// <c>POST /v1/chat/completions</c> and <c>GET /v1/models</c> as OpenAI answers them, including the error bodies and
/// rate-limit headers a client has to handle. Keys decide the account's state: <c>sk-rejected…</c> is an invalid key
/// (401), <c>sk-noquota…</c> an account without quota (429 insufficient_quota); any other key is a working one.
/// </summary>
public sealed partial class ChatCompletions(
    RateLimiter limiter, Faults faults, CallLog calls, IOptionsMonitor<StandInOptions> options, TimeProvider clock,
    ILogger<ChatCompletions> logger)
{
    public async Task<IResult> Complete(HttpContext http)
    {
        var started = Stopwatch.GetTimestamp();
        var key = BearerKey(http);
        var path = http.Request.Path.Value ?? "";
        if (Unauthorized(key) is { } refused)
        {
            Record(key ?? "", path, null, 0, 0, StatusCodes.Status401Unauthorized, "invalid_api_key");
            return refused;
        }

        JsonObject? body;
        try
        {
            body = await JsonNode.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted) as JsonObject;
        }
        catch (JsonException)
        {
            body = null;
        }

        var model = body?["model"]?.GetValue<string>();
        if (body?["messages"] is not JsonArray { Count: > 0 } messages || model is null)
            return Record(key!, path, model, 0, 0, Error(400, "invalid_request_error", null, "'model' and a non-empty 'messages' are required.", "messages"));
        if (body["stream"]?.GetValue<bool>() == true)
            return Record(key!, path, model, 0, 0, Error(400, "invalid_request_error", null, "The stand-in does not stream; send stream: false.", "stream"));
        if (key!.StartsWith("sk-noquota", StringComparison.Ordinal))
        {
            return Record(key, path, model, 0, 0, Error(429, "insufficient_quota", "insufficient_quota",
                "You exceeded your current quota, please check your plan and billing details.", null));
        }

        var prompt = Prompt(messages);
        var promptTokens = Tokens(prompt) + 3 * messages.Count;
        var maxTokens = (body["max_completion_tokens"] ?? body["max_tokens"])?.GetValue<int>();
        var estimate = promptTokens + (maxTokens ?? 0);
        var decision = limiter.TryAcquire(key, estimate);
        RateLimitHeaders(http, decision);
        if (!decision.Allowed)
        {
            var limit = decision.Exceeded == "requests" ? decision.RequestLimit : decision.TokenLimit;
            var unit = decision.Exceeded == "requests" ? "requests per min (RPM)" : "tokens per min (TPM)";
            var requested = decision.Exceeded == "requests" ? 1 : estimate;
            return Record(key, path, model, promptTokens, 0, RateLimited(http, decision.RetryAfter, decision.Exceeded!,
                $"Rate limit reached for {model} in organization org-standin on {unit}: Limit {limit}, Requested {requested}. " +
                $"Please try again in {RateLimiter.FormatReset(decision.RetryAfter)}."));
        }

        var used = 0;
        try
        {
            if (faults.Take(key) is { } fault)
            {
                LogFault(logger, fault.Status, fault.HangMs);
                if (fault.HangMs is { } hang)
                    await Task.Delay(TimeSpan.FromMilliseconds(hang), clock, http.RequestAborted);
                if (fault.Status is { } status)
                    return Record(key, path, model, promptTokens, 0, Injected(http, status, fault));
            }

            var format = body["response_format"]?["type"]?.GetValue<string>() ?? "text";
            if (format != "text" && !StandInOptions.List(options.CurrentValue.ResponseFormats).Contains(format, StringComparer.Ordinal))
            {
                return Record(key, path, model, promptTokens, 0, Error(400, "invalid_request_error", null,
                    $"Invalid parameter: 'response_format' of type '{format}' is not supported with this model.", "response_format"));
            }

            var content = format switch
            {
                "json_schema" => Answers.ForSchema(body["response_format"]?["json_schema"]?["schema"] ?? new JsonObject(), prompt),
                "json_object" => Answers.ForJsonMode(prompt),
                _ => Answers.ForText(prompt),
            };
            var completionTokens = Tokens(content);
            var finish = "stop";
            if (maxTokens is { } max && completionTokens > max)
            {
                content = content[..Math.Min(content.Length, max * 4)];
                completionTokens = max;
                finish = "length";
            }

            used = promptTokens + completionTokens;
            var o = options.CurrentValue;
            var latency = TimeSpan.FromMilliseconds(o.LatencyMs + o.LatencyPerTokenMs * completionTokens) - Stopwatch.GetElapsedTime(started);
            if (latency > TimeSpan.Zero)
                await Task.Delay(latency, clock, http.RequestAborted);

            Record(key, path, model, promptTokens, completionTokens, StatusCodes.Status200OK, null);
            http.Response.Headers["openai-processing-ms"] = ((int)Stopwatch.GetElapsedTime(started).TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
            return Results.Json(new JsonObject
            {
                ["id"] = $"chatcmpl-standin-{Guid.NewGuid():N}",
                ["object"] = "chat.completion",
                ["created"] = clock.GetUtcNow().ToUnixTimeSeconds(),
                ["model"] = model,
                ["system_fingerprint"] = "fp_standin",
                ["choices"] = new JsonArray(new JsonObject
                {
                    ["index"] = 0,
                    ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = content, ["refusal"] = null },
                    ["logprobs"] = null,
                    ["finish_reason"] = finish,
                }),
                ["usage"] = new JsonObject
                {
                    ["prompt_tokens"] = promptTokens,
                    ["completion_tokens"] = completionTokens,
                    ["total_tokens"] = promptTokens + completionTokens,
                },
            });
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client gave up (its timeout): nothing is sent, but the call is recorded as nginx would log it.
            Record(key, path, model, promptTokens, 0, 499, "client closed request");
            return Results.Empty;
        }
        finally
        {
            limiter.Settle(key, estimate, used);
        }
    }

    public IResult Models(HttpContext http)
    {
        var key = BearerKey(http);
        var path = http.Request.Path.Value ?? "";
        if (Unauthorized(key) is { } refused)
        {
            Record(key ?? "", path, null, 0, 0, StatusCodes.Status401Unauthorized, "invalid_api_key");
            return refused;
        }

        Record(key!, path, null, 0, 0, StatusCodes.Status200OK, null);
        var created = new DateTimeOffset(2024, 7, 18, 0, 0, 0, TimeSpan.Zero).ToUnixTimeSeconds();
        return Results.Json(new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray(StandInOptions.List(options.CurrentValue.Models).Select(m => (JsonNode)new JsonObject
            {
                ["id"] = m, ["object"] = "model", ["created"] = created, ["owned_by"] = "standin",
            }).ToArray()),
        });
    }

    static string? BearerKey(HttpContext http)
    {
        var header = http.Request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && header.Length > 7 ? header[7..].Trim() : null;
    }

    static IResult? Unauthorized(string? key)
    {
        if (key is null)
        {
            return Error(401, "invalid_request_error", null,
                "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth.", null);
        }

        return key.StartsWith("sk-rejected", StringComparison.Ordinal)
            ? Error(401, "invalid_request_error", "invalid_api_key", $"Incorrect API key provided: {Hint(key)}. You can find your API key in your provider's dashboard.", null)
            : null;
    }

    static IResult Injected(HttpContext http, int status, Fault fault) => status switch
    {
        429 when fault.Code == "insufficient_quota" => Error(429, "insufficient_quota", "insufficient_quota",
            "You exceeded your current quota, please check your plan and billing details.", null),
        429 => RateLimited(http, TimeSpan.FromMilliseconds(fault.RetryAfterMs ?? 1000), "requests",
            "Rate limit reached for requests (injected). Please try again later."),
        400 => Error(400, "invalid_request_error", fault.Code ?? "context_length_exceeded",
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens. Please reduce the length of the messages.", "messages"),
        401 => Error(401, "invalid_request_error", fault.Code ?? "invalid_api_key", "Incorrect API key provided.", null),
        402 => Error(402, "billing_error", fault.Code ?? "payment_required", "Your account has a payment issue.", null),
        403 => Error(403, "permission_error", fault.Code ?? "unsupported_country_region_territory", "Country, region, or territory not supported.", null),
        >= 500 => Error(status, "server_error", fault.Code, "The server had an error while processing your request. Sorry about that!", null),
        _ => Error(status, "invalid_request_error", fault.Code, $"Injected error {status}.", null),
    };

    static IResult RateLimited(HttpContext http, TimeSpan retryAfter, string type, string message)
    {
        http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        http.Response.Headers["retry-after-ms"] = ((long)Math.Ceiling(retryAfter.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
        return Error(429, type, "rate_limit_exceeded", message, null);
    }

    static IResult Error(int status, string type, string? code, string message, string? param) => Results.Json(new JsonObject
    {
        ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code },
    }, statusCode: status);

    static void RateLimitHeaders(HttpContext http, RateLimiter.Decision decision)
    {
        var headers = http.Response.Headers;
        headers["x-ratelimit-limit-requests"] = decision.RequestLimit.ToString(CultureInfo.InvariantCulture);
        headers["x-ratelimit-remaining-requests"] = decision.RemainingRequests.ToString(CultureInfo.InvariantCulture);
        headers["x-ratelimit-reset-requests"] = RateLimiter.FormatReset(decision.ResetRequests);
        headers["x-ratelimit-limit-tokens"] = decision.TokenLimit.ToString(CultureInfo.InvariantCulture);
        headers["x-ratelimit-remaining-tokens"] = decision.RemainingTokens.ToString(CultureInfo.InvariantCulture);
        headers["x-ratelimit-reset-tokens"] = RateLimiter.FormatReset(decision.ResetTokens);
        headers["x-request-id"] = $"req_{Guid.NewGuid():N}";
    }

    IResult Record(string key, string path, string? model, int promptTokens, int completionTokens, IResult result)
    {
        var status = result is IStatusCodeHttpResult { StatusCode: { } code } ? code : 200;
        var error = result is IValueHttpResult { Value: JsonObject o } ? o["error"]?["code"]?.GetValue<string>() ?? o["error"]?["type"]?.GetValue<string>() : null;
        Record(key, path, model, promptTokens, completionTokens, status, error);
        return result;
    }

    void Record(string key, string path, string? model, int promptTokens, int completionTokens, int status, string? error)
    {
        calls.Add(new Call(key, path, model, promptTokens, completionTokens, status, clock.GetUtcNow(), error));
        LogCall(logger, path, Hint(key), model, status, promptTokens, completionTokens);
    }

    static string Prompt(JsonArray messages)
    {
        var text = new StringBuilder();
        foreach (var message in messages)
        {
            switch (message?["content"])
            {
                case JsonValue value when value.TryGetValue<string>(out var s):
                    text.Append(s).Append('\n');
                    break;
                case JsonArray parts:
                    foreach (var part in parts)
                        text.Append(part?["text"]?.GetValue<string>()).Append('\n');
                    break;
            }
        }

        return text.ToString();
    }

    /// <summary>About four characters a token, as OpenAI's rule of thumb for English.</summary>
    static int Tokens(string text) => Math.Max(1, (text.Length + 3) / 4);

    /// <summary>What the stand-in logs of a key: never the key itself, like a real provider's dashboard.</summary>
    static string Hint(string key) =>
        key.Length <= 8 ? "sk-…" : $"{key[..Math.Min(6, key.Length)]}…{Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..6]}";

    [LoggerMessage(Level = LogLevel.Information, Message = "{Path} key {KeyHint} model {Model}: {Status} ({PromptTokens}+{CompletionTokens} tokens)")]
    static partial void LogCall(ILogger logger, string path, string keyHint, string? model, int status, int promptTokens, int completionTokens);

    [LoggerMessage(Level = LogLevel.Information, Message = "Injecting a fault: status {Status}, hang {HangMs} ms")]
    static partial void LogFault(ILogger logger, int? status, int? hangMs);
}
