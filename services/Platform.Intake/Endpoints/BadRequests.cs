using System.Text.Json;
using System.Text.RegularExpressions;

namespace Platform.Intake.Endpoints;

/// <summary>
/// What minimal APIs refuse before an endpoint runs (a body of the wrong JSON types, a query or route value that does not
/// parse, a missing body), told as the field the caller sent and what it must be. ASP.NET Core says these only in
/// <see cref="BadHttpRequestException"/>'s message; the patterns below follow its wording, and the tests pin it.
/// </summary>
public static partial class BadRequests
{
    /// <summary>What each body member must be, by its path with indices left out (<c>tasks[].key</c>).</summary>
    static readonly Dictionary<string, string> Expected = new(StringComparer.Ordinal)
    {
        [""] = "a JSON object",
        ["name"] = "a string",
        ["instructions"] = "a string",
        ["tasks"] = "an array of tasks",
        ["tasks[]"] = "an object {key, input}",
        ["tasks[].key"] = "a string",
        ["tasks[].input"] = "a JSON object",
        ["userId"] = "a string",
        ["tier"] = "a string",
        ["ownProviderKey"] = "true or false",
        ["apiKey"] = "a string",
    };

    /// <summary>What a query or route value must be, where it is more than its type.</summary>
    static readonly Dictionary<string, string> ExpectedParameter = new(StringComparer.Ordinal)
    {
        ["offset"] = $"an integer from 0 to {int.MaxValue}",
        ["limit"] = $"an integer from 1 to {BatchEndpoints.MaxPageSize}",
    };

    public static (int Status, string Field, string Message) Describe(BadHttpRequestException error)
    {
        // A syntax error wraps the reader's own JsonException; a member of the wrong type does not.
        if (error.InnerException is JsonException json)
            return json.InnerException is JsonException
                ? (StatusCodes.Status400BadRequest, "body", "request body is not valid JSON: " + json.Message)
                : WrongType(json);

        if (BindingFailed().Match(error.Message) is { Success: true } binding)
        {
            var name = binding.Groups["name"].Value;
            var expected = ExpectedParameter.GetValueOrDefault(name) ?? Kind(binding.Groups["type"].Value);
            return (StatusCodes.Status400BadRequest, name, $"{name} must be {expected}; got '{binding.Groups["value"].Value}'");
        }

        if (ImplicitBodyMissing().IsMatch(error.Message) || RequiredMissing().Match(error.Message) is { Success: true, Groups: var g } && g["source"].Value == "body")
            return (StatusCodes.Status400BadRequest, "body", "request body is required: a JSON object");
        if (RequiredMissing().Match(error.Message) is { Success: true } required)
            return (StatusCodes.Status400BadRequest, required.Groups["name"].Value, $"{required.Groups["name"].Value} is required");

        return (error.StatusCode, "body", error.Message);
    }

    static (int, string, string) WrongType(JsonException json)
    {
        // "$.tasks[2].key" → "tasks[2].key"; System.Text.Json names the member it could not convert.
        var field = json.Path is { Length: > 1 } path ? path.TrimStart('$').TrimStart('.') : "body";
        var expected = Expected.GetValueOrDefault(Index().Replace(field == "body" ? "" : field, "[]")) ?? "of another JSON type";
        var reason = json.InnerException is InvalidOperationException inner ? $" ({inner.Message.TrimEnd('.')})" : "";
        return (StatusCodes.Status400BadRequest, field, $"{(field == "body" ? "request body" : field)} must be {expected}{reason}");
    }

    static string Kind(string type) => type.TrimEnd('?') switch
    {
        "int" or "long" => "an integer",
        "Guid" => "a GUID (such as 0193a7f2-6c1e-7d3a-9f1b-2c4d5e6f7a8b)",
        "bool" => "true or false",
        var other => $"a value of type {other}",
    };

    [GeneratedRegex(@"\[\d+\]")]
    private static partial Regex Index();

    [GeneratedRegex("""^Failed to bind parameter "(?<type>[^ "]+) (?<name>[^ "]+)" from "(?<value>.*)"\.$""", RegexOptions.Singleline)]
    private static partial Regex BindingFailed();

    [GeneratedRegex("""^Required parameter "(?<type>[^ "]+) (?<name>[^ "]+)" was not provided from (?<source>[^.]+)\.$""")]
    private static partial Regex RequiredMissing();

    [GeneratedRegex("""^Implicit body inferred for parameter "[^"]+" but no body was provided""")]
    private static partial Regex ImplicitBodyMissing();
}
