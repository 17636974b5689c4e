using System.Globalization;

namespace Platform.StandInProvider;

/// <summary>
/// Per-key requests and tokens per minute, as OpenAI enforces them: each budget is a bucket that holds a minute's limit
/// and refills continuously, so "reset" is the time until it is full again. A request takes one request and its
/// estimated tokens (prompt plus max_tokens) up front; the tokens are settled to the actual use when it ends.
/// </summary>
public sealed class RateLimiter(TimeProvider clock, int requestsPerMinute, int tokensPerMinute)
{
    readonly Lock _lock = new();
    readonly Dictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
    readonly Dictionary<string, (int Requests, int Tokens)> _limits = new(StringComparer.Ordinal);
    (int Requests, int Tokens) _default = (requestsPerMinute, tokensPerMinute);

    /// <summary>Sets one key's limits, or every key's default when <paramref name="key"/> is null.</summary>
    public void SetLimits(string? key, int requestsPerMinute, int tokensPerMinute)
    {
        lock (_lock)
        {
            if (key is null)
            {
                _default = (requestsPerMinute, tokensPerMinute);
                _limits.Clear();
                _buckets.Clear();
            }
            else
            {
                _limits[key] = (requestsPerMinute, tokensPerMinute);
                _buckets.Remove(key);
            }
        }
    }

    public Decision TryAcquire(string key, int tokens)
    {
        lock (_lock)
        {
            var bucket = Refilled(key);
            Decision Answer(bool allowed, string? exceeded, TimeSpan retryAfter) => new(allowed, exceeded, retryAfter,
                bucket.RequestLimit, Math.Max(0, (int)bucket.Requests), Until(bucket.RequestLimit - bucket.Requests, bucket.RequestLimit),
                bucket.TokenLimit, Math.Max(0, (int)bucket.Tokens), Until(bucket.TokenLimit - bucket.Tokens, bucket.TokenLimit));

            if (bucket.Requests < 1)
                return Answer(false, "requests", Until(1 - bucket.Requests, bucket.RequestLimit));
            if (bucket.Tokens < tokens)
                return Answer(false, "tokens", Until(Math.Min(tokens, bucket.TokenLimit) - bucket.Tokens, bucket.TokenLimit));

            bucket.Requests -= 1;
            bucket.Tokens -= tokens;
            return Answer(true, null, TimeSpan.Zero);
        }
    }

    /// <summary>Gives back what a request's estimate took beyond its actual tokens (or takes the excess).</summary>
    public void Settle(string key, int estimated, int actual)
    {
        lock (_lock)
        {
            var bucket = Refilled(key);
            bucket.Tokens = Math.Min(bucket.TokenLimit, bucket.Tokens + estimated - actual);
        }
    }

    Bucket Refilled(string key)
    {
        var now = clock.GetUtcNow();
        if (!_buckets.TryGetValue(key, out var bucket))
        {
            var (requests, tokens) = _limits.TryGetValue(key, out var limits) ? limits : _default;
            bucket = new Bucket(requests, tokens, now);
            _buckets[key] = bucket;
        }

        var elapsedMinutes = (now - bucket.RefilledAt).TotalMinutes;
        bucket.Requests = Math.Min(bucket.RequestLimit, bucket.Requests + elapsedMinutes * bucket.RequestLimit);
        bucket.Tokens = Math.Min(bucket.TokenLimit, bucket.Tokens + elapsedMinutes * bucket.TokenLimit);
        bucket.RefilledAt = now;
        return bucket;
    }

    /// <summary>How long a bucket refilling <paramref name="perMinute"/> a minute takes to gain <paramref name="missing"/>.</summary>
    static TimeSpan Until(double missing, int perMinute) =>
        missing <= 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Ceiling(missing / perMinute * 60_000));

    /// <summary>OpenAI's reset format: "20ms", "1s", "8.64s", "6m0s", "1h2m3s".</summary>
    public static string FormatReset(TimeSpan span)
    {
        if (span < TimeSpan.FromSeconds(1))
            return $"{Math.Max(0, (int)span.TotalMilliseconds)}ms";
        var seconds = (span - TimeSpan.FromMinutes(Math.Floor(span.TotalMinutes))).TotalSeconds;
        var secondsText = Math.Round(seconds, 3).ToString("0.###", CultureInfo.InvariantCulture) + "s";
        if (span < TimeSpan.FromMinutes(1))
            return secondsText;
        var minutes = (int)span.TotalMinutes;
        return minutes >= 60 ? $"{minutes / 60}h{minutes % 60}m{secondsText}" : $"{minutes}m{secondsText}";
    }

    sealed class Bucket(int requestLimit, int tokenLimit, DateTimeOffset at)
    {
        public int RequestLimit { get; } = requestLimit;
        public int TokenLimit { get; } = tokenLimit;
        public double Requests { get; set; } = requestLimit;
        public double Tokens { get; set; } = tokenLimit;
        public DateTimeOffset RefilledAt { get; set; } = at;
    }

    /// <param name="Exceeded">"requests" or "tokens" when refused.</param>
    public sealed record Decision(bool Allowed, string? Exceeded, TimeSpan RetryAfter,
        int RequestLimit, int RemainingRequests, TimeSpan ResetRequests,
        int TokenLimit, int RemainingTokens, TimeSpan ResetTokens);
}
