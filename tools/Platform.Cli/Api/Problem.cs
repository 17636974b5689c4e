using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Platform.Cli.Api;

/// <summary>An answer that was not a success, told as its problem+json (RFC 9457) title, detail and field errors.</summary>
public static class Problem
{
    public static CliException From(HttpStatusCode status, string method, string path, string body)
    {
        var code = (int)status;
        var exit = code switch
        {
            401 or 403 => ExitCodes.Auth,
            >= 500 => ExitCodes.Server,
            _ => ExitCodes.Usage,
        };

        string? title = null, detail = null;
        var fields = new List<string>();
        try
        {
            if (JsonNode.Parse(body) is JsonObject problem)
            {
                title = problem["title"]?.GetValueKind() == JsonValueKind.String ? problem["title"]!.GetValue<string>() : null;
                detail = problem["detail"]?.GetValueKind() == JsonValueKind.String ? problem["detail"]!.GetValue<string>() : null;
                if (problem["errors"] is JsonObject errors)
                {
                    foreach (var (field, messages) in errors)
                    {
                        var texts = messages is JsonArray list
                            ? list.Select(m => m?.ToString() ?? "")
                            : [messages?.ToString() ?? ""];
                        fields.AddRange(texts.Select(t => $"{field}: {t}"));
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON (a proxy's page, an empty 401): the status line alone says what happened.
        }

        var headline = (title, detail) switch
        {
            (not null, not null) => $"{title}: {detail}",
            (not null, null) => title,
            (null, not null) => detail,
            _ => $"{code} {status}",
        };
        if (exit == ExitCodes.Auth)
            headline += code == 401
                ? " (the API key was refused: run `platform login` or set PLATFORM_API_KEY)"
                : " (this key may not do that: admin commands need the admin key)";
        // A field's message usually repeats the detail when there is only one; keep the list for more than one.
        if (fields.Count == 1 && detail is not null && fields[0].EndsWith(detail, StringComparison.Ordinal))
            headline = $"{title ?? code.ToString(System.Globalization.CultureInfo.InvariantCulture)}: {fields[0]}";
        if (fields.Count == 1 && headline.Contains(fields[0], StringComparison.Ordinal))
            fields.Clear();
        return new CliException(exit, $"{method} {path} answered {code}: {headline}", fields);
    }
}
