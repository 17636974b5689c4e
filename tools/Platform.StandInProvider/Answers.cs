using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Platform.StandInProvider;

/// <summary>
/// Deterministic answers derived from the prompt: the same prompt gets the same answer. With a JSON schema the answer is
/// an object that satisfies it (every property filled by its type); otherwise a research-shaped object, as JSON (json
/// mode) or inside a fenced block of prose (plain text), as chat models tend to answer.
/// </summary>
public static class Answers
{
    public static string ForSchema(JsonNode schema, string prompt) => Fill(schema, schema, prompt, "answer", 0)?.ToJsonString() ?? "null";

    public static string ForJsonMode(string prompt) => Research(prompt).ToJsonString();

    public static string ForText(string prompt) =>
        $"Here is what I found.\n\n```json\n{Research(prompt).ToJsonString(new() { WriteIndented = true })}\n```\n";

    static JsonObject Research(string prompt) => new()
    {
        ["answer"] = new JsonObject { ["subject"] = Subject(prompt), ["finding"] = Phrase(prompt, "finding") },
        ["summary"] = $"Stand-in research on {Subject(prompt)}.",
        ["sources"] = new JsonArray($"https://example.org/standin/{Seed(prompt, "source") % 10_000}"),
        ["confidence"] = Confidence(prompt, "confidence"),
    };

    static JsonNode? Fill(JsonNode root, JsonNode? schema, string prompt, string name, int depth)
    {
        if (schema is not JsonObject s || depth > 8)
            return Phrase(prompt, name);
        if (s["$ref"]?.GetValue<string>() is { } reference)
            return Fill(root, Resolve(root, reference), prompt, name, depth + 1);
        if (s["const"] is { } constant)
            return constant.DeepClone();
        if (s["enum"] is JsonArray { Count: > 0 } options)
            return options[(int)(Seed(prompt, name) % (uint)options.Count)]?.DeepClone();
        foreach (var combinator in new[] { "anyOf", "oneOf", "allOf" })
        {
            if (s[combinator] is JsonArray { Count: > 0 } choices)
                return Fill(root, choices.FirstOrDefault(c => c?["type"]?.ToString() != "null") ?? choices[0], prompt, name, depth + 1);
        }

        return TypeOf(s) switch
        {
            "object" => Object(root, s, prompt, name, depth),
            "array" => new JsonArray(Enumerable.Range(0, Math.Max(1, s["minItems"]?.GetValue<int>() ?? 2))
                .Select(i => Fill(root, s["items"], prompt, $"{name}[{i}]", depth + 1)).ToArray()),
            "number" => Number(s, prompt, name),
            "integer" => (int)Math.Round(Number(s, prompt, name, integer: true)),
            "boolean" => Seed(prompt, name) % 2 == 0,
            "null" => null,
            _ => Text(s, prompt, name),
        };
    }

    /// <summary>A string that reads like what its property asks for: a summary, a source's URL, or a finding.</summary>
    static string Text(JsonObject schema, string prompt, string name)
    {
        if (schema["format"]?.GetValue<string>() == "uri" || name.StartsWith("source", StringComparison.OrdinalIgnoreCase)
                                                        || name.Contains("url", StringComparison.OrdinalIgnoreCase))
            return $"https://example.org/standin/{Seed(prompt, name) % 10_000}";
        return name.Contains("summary", StringComparison.OrdinalIgnoreCase) ? $"Stand-in research on {Subject(prompt)}." : Phrase(prompt, name);
    }

    static JsonObject Object(JsonNode root, JsonObject schema, string prompt, string name, int depth)
    {
        var result = new JsonObject();
        if (schema["properties"] is JsonObject properties && properties.Count > 0)
        {
            foreach (var (property, propertySchema) in properties)
                result[property] = Fill(root, propertySchema, prompt, property, depth + 1);
        }
        else if (schema["additionalProperties"] is not JsonValue { } closed || closed.GetValue<bool>())
        {
            // A free-form object (the research answer's fields): what the prompt asked about.
            result["subject"] = Subject(prompt);
            result["finding"] = Phrase(prompt, name + ".finding");
        }

        return result;
    }

    static string? TypeOf(JsonObject schema) => schema["type"] switch
    {
        JsonValue value => value.GetValue<string>(),
        JsonArray types => types.Select(t => t?.GetValue<string>()).FirstOrDefault(t => t != "null") ?? "null",
        _ => schema["properties"] is not null ? "object" : schema["items"] is not null ? "array" : null,
    };

    static JsonNode? Resolve(JsonNode root, string reference)
    {
        if (!reference.StartsWith("#/", StringComparison.Ordinal))
            return null;
        JsonNode? node = root;
        foreach (var part in reference[2..].Split('/'))
            node = node?[part.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)];
        return node;
    }

    static double Number(JsonObject schema, string prompt, string name, bool integer = false)
    {
        if (name.Contains("confidence", StringComparison.OrdinalIgnoreCase) && !integer)
            return Confidence(prompt, name);
        var min = schema["minimum"]?.GetValue<double>() ?? 0;
        var max = schema["maximum"]?.GetValue<double>() ?? (integer ? 2000 : 100);
        return min + Seed(prompt, name) % 10_000 / 10_000.0 * (max - min);
    }

    static double Confidence(string prompt, string name) => Math.Round(0.5 + Seed(prompt, name) % 50 / 100.0, 2);

    static string Phrase(string prompt, string name) => $"{name} of {Subject(prompt)} ({Seed(prompt, name) % 1000})";

    /// <summary>The last line of the prompt (the user's request), shortened.</summary>
    static string Subject(string prompt)
    {
        var line = prompt.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        return line.Length <= 80 ? line : line[..80];
    }

    static uint Seed(string prompt, string name) =>
        BitConverter.ToUInt32(SHA256.HashData(Encoding.UTF8.GetBytes(prompt + "\0" + name)), 0);
}
