using System.ComponentModel.DataAnnotations;

namespace Platform.StandInProvider;

public sealed class StandInOptions
{
    public const string Section = "StandIn";

    /// <summary>Time to the first byte of every completion, like a provider's queueing and prompt processing.</summary>
    [Range(0, 600_000)]
    public int LatencyMs { get; set; } = 300;

    /// <summary>Added per completion token: generation speed (5 ms is 200 tokens/s).</summary>
    [Range(0, 1000)]
    public double LatencyPerTokenMs { get; set; } = 5;

    /// <summary>Each key's requests per minute, as OpenAI's RPM (a bucket that refills continuously).</summary>
    [Range(1, int.MaxValue)]
    public int RequestsPerMinute { get; set; } = 500;

    /// <summary>Each key's tokens per minute (prompt tokens plus max_tokens at the request, settled to the actual use).</summary>
    [Range(1, int.MaxValue)]
    public int TokensPerMinute { get; set; } = 200_000;

    /// <summary>The models GET /v1/models lists, comma-separated; chat completions accept any model name.</summary>
    public string Models { get; set; } = "gpt-4o-mini,gpt-4o";

    /// <summary>
    /// The response_format types it honours, comma-separated (json_schema, json_object; empty: plain text only). A request
    /// for another one answers 400, as a provider without structured outputs does. (A string, not an array: the
    /// configuration binder appends to an array's defaults instead of replacing them.)
    /// </summary>
    public string ResponseFormats { get; set; } = "json_schema,json_object";

    public static string[] List(string value) => value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
