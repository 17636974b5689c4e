using System.Text.Json;
using System.Text.Json.Nodes;

namespace Platform.Worker.Research;

/// <summary>
/// The structured result a provider is asked for, <c>{answer: {...}, summary, sources: [...], confidence}</c>, and a
/// tolerant reading of what comes back: the JSON itself, a fenced <c>```json</c> block, or the outermost braces of prose.
/// </summary>
public static class ResearchAnswer
{
    public const string SchemaName = "research_result";

    public static readonly JsonElement Schema = JsonDocument.Parse("""
        {
          "type": "object",
          "properties": {
            "answer": { "type": "object", "description": "The findings: one field per item the request asks for." },
            "summary": { "type": "string", "description": "Two or three sentences." },
            "sources": { "type": "array", "items": { "type": "string" }, "description": "URLs or references the findings rest on." },
            "confidence": { "type": "number", "minimum": 0, "maximum": 1 }
          },
          "required": ["answer", "summary", "sources", "confidence"]
        }
        """).RootElement.Clone();

    public const string SystemPrompt = """
        You are a careful research assistant. Research the user's request and answer with one JSON object only, no prose:
        {"answer": {one field per item the request asks for}, "summary": "two or three sentences",
         "sources": ["URLs or references"], "confidence": a number from 0 to 1}.
        Say so in the summary, with a low confidence, when you cannot find something.
        """;

    /// <summary>The result object, or null with the reason it is not one.</summary>
    public static JsonObject? Parse(string? text, out string? problem)
    {
        problem = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            problem = "the answer was empty";
            return null;
        }

        var candidate = JsonIn(text);
        JsonObject? parsed;
        try
        {
            parsed = candidate is null ? null : JsonNode.Parse(candidate) as JsonObject;
        }
        catch (JsonException)
        {
            parsed = null;
        }

        if (parsed is null)
        {
            problem = "the answer held no JSON object";
            return null;
        }

        if (parsed["answer"] is not JsonObject answer)
        {
            problem = "the answer's JSON has no 'answer' object";
            return null;
        }

        if (parsed["summary"] is not JsonValue summary || !summary.TryGetValue<string>(out var summaryText))
        {
            problem = "the answer's JSON has no 'summary' text";
            return null;
        }

        var sources = parsed["sources"] is JsonArray array
            ? new JsonArray(array.Where(s => s is JsonValue).Select(s => (JsonNode?)JsonValue.Create(s!.ToString())).ToArray())
            : [];
        double? confidence = parsed["confidence"] is JsonValue c && c.TryGetValue<double>(out var value) ? Math.Clamp(value, 0, 1) : null;
        return new JsonObject
        {
            ["answer"] = answer.DeepClone(),
            ["summary"] = summaryText,
            ["sources"] = sources,
            ["confidence"] = confidence,
        };
    }

    /// <summary>The JSON text in an answer: all of it, a fenced block's, or from its first '{' to its last '}'.</summary>
    static string? JsonIn(string text)
    {
        var trimmed = text.Trim();
        if (trimmed.StartsWith('{'))
            return trimmed;
        var fence = trimmed.IndexOf("```", StringComparison.Ordinal);
        if (fence >= 0)
        {
            var start = trimmed.IndexOf('\n', fence);
            var end = start < 0 ? -1 : trimmed.IndexOf("```", start, StringComparison.Ordinal);
            if (end > start)
                return trimmed[(start + 1)..end].Trim();
        }

        var first = trimmed.IndexOf('{');
        var last = trimmed.LastIndexOf('}');
        return first >= 0 && last > first ? trimmed[first..(last + 1)] : null;
    }
}
