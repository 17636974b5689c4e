using System.Buffers;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FluentValidation;
using Microsoft.Extensions.Options;

namespace Platform.Intake.Submission;

public sealed class BatchRequest
{
    [Required]
    [Description("Required, at most 200 characters.")]
    public string? Name { get; set; }

    [Required]
    [Description("Required: the template each task fills, e.g. `Research {company}`; every `{placeholder}` must be a field of each task's input. " +
        "At most `Platform:MaxInstructionsLength` characters (default 8000).")]
    public string? Instructions { get; set; }

    [Required]
    [Description("Required: 1 to `Platform:MaxTasksPerBatch` tasks (default 10000).")]
    // Elements may be null as sent ("tasks": [null]); the validator refuses them.
    public List<TaskRequest?>? Tasks { get; set; }
}

public sealed class TaskRequest
{
    [Required]
    [Description("Required, unique in the batch, at most 200 characters: the caller's name for the task.")]
    public string? Key { get; set; }

    [Required]
    [Description("Required JSON object whose fields fill the instructions, at most `Platform:MaxTaskInputBytes` bytes (default 16384). " +
        "An optional `simulate` object (`durationMs`, `fail`, `failTimes`) drives the simulated executor.")]
    public JsonObject? Input { get; set; }
}

/// <summary>
/// Every rule names the field and, where there is one, the limit: the caller can fix the request from the message alone.
/// Fields are spelled as in the request's JSON (<c>name</c>, <c>tasks[3].key</c>), not as the C# properties, so that
/// the problem's <c>errors</c> map points into the body the caller sent.
/// </summary>
public sealed partial class BatchRequestValidator : AbstractValidator<BatchRequest>
{
    public const int MaxNameLength = 200;
    public const int MaxKeyLength = 200;
    public const int MaxSimulatedFailTimes = 100;
    public static readonly IReadOnlyList<string> SimulatedFailures = ["transient", "permanent", "crash"];
    static readonly string[] SimulateMembers = ["durationMs", "fail", "failTimes"];

    // PostgreSQL stores neither a NUL character (text and jsonb) nor an unpaired surrogate: refuse them here rather
    // than answer 500 from the INSERT.
    const string UnstorableText = "must be valid Unicode text without NUL (\\u0000) characters";

    public BatchRequestValidator(IOptions<IntakeOptions> options)
    {
        var o = options.Value;

        RuleFor(x => x.Name).Cascade(CascadeMode.Stop)
            .NotEmpty().WithMessage("name is required")
            .MaximumLength(MaxNameLength).WithMessage(x => $"name must be at most {MaxNameLength} characters; got {x.Name!.Length}")
            .Must(IsStorable).WithMessage("name " + UnstorableText)
            .OverridePropertyName("name");

        RuleFor(x => x.Instructions).Cascade(CascadeMode.Stop)
            .NotEmpty().WithMessage("instructions is required")
            .MaximumLength(o.MaxInstructionsLength)
            .WithMessage(x => $"instructions must be at most {o.MaxInstructionsLength} characters; got {x.Instructions!.Length}")
            .Must(IsStorable).WithMessage("instructions " + UnstorableText)
            .OverridePropertyName("instructions");

        RuleFor(x => x.Tasks).Cascade(CascadeMode.Stop)
            .NotNull().WithMessage("tasks is required")
            .NotEmpty().WithMessage("tasks must contain at least 1 task")
            .Must(t => t!.Count <= o.MaxTasksPerBatch)
            .WithMessage(x => $"tasks must contain at most {o.MaxTasksPerBatch} tasks per batch; got {x.Tasks!.Count}")
            .OverridePropertyName("tasks");

        // Every task in one pass, without a child validator per task: FluentValidation's per-element rules cost more
        // than the rest of a 10,000-task submission's validation together (issue 17). The fields and messages are the same.
        When(x => x.Tasks is { Count: > 0 } tasks && tasks.Count <= o.MaxTasksPerBatch, () =>
            RuleFor(x => x).Custom((batch, context) => ValidateTasks(batch, o, context)));
    }

    static void ValidateTasks(BatchRequest batch, IntakeOptions o, ValidationContext<BatchRequest> context)
    {
        var fields = Placeholders(batch.Instructions ?? "");
        var tasks = batch.Tasks!;
        var seen = new HashSet<string>(tasks.Count, StringComparer.Ordinal);
        var buffer = new ArrayBufferWriter<byte>(256);
        using var writer = new Utf8JsonWriter(buffer);
        for (var i = 0; i < tasks.Count; i++)
        {
            if (tasks[i] is not { } task)
            {
                context.AddFailure($"tasks[{i}]", "each task must be an object {key, input}; got null");
                continue;
            }

            if (KeyError(task.Key) is { } keyError)
                context.AddFailure($"tasks[{i}].key", keyError);
            if (task.Key is { Length: > 0 } key && !seen.Add(key))
                context.AddFailure($"tasks[{i}].key", $"key '{key}' is used twice in this batch; keys must be unique");

            // A task's input: storable, within its size, able to fill every placeholder of the instructions, and with a
            // simulate object the worker can read.
            if (task.Input is not { } input)
            {
                context.AddFailure($"tasks[{i}].input", "input is required (a JSON object)");
                continue;
            }

            if (Unstorable(input, "input") is { } bad)
            {
                context.AddFailure($"tasks[{i}].{bad.Field}", bad.Message);
                continue;
            }

            buffer.ResetWrittenCount();
            writer.Reset();
            input.WriteTo(writer);
            writer.Flush();
            if (buffer.WrittenCount > o.MaxTaskInputBytes)
                context.AddFailure($"tasks[{i}].input", $"input must be at most {o.MaxTaskInputBytes} bytes of JSON; got {buffer.WrittenCount}");
            foreach (var field in fields)
            {
                if (!input.ContainsKey(field))
                    context.AddFailure($"tasks[{i}].input.{field}", $"input.{field} is required by the instructions' placeholder {{{field}}}");
            }

            if (input.TryGetPropertyValue("simulate", out var simulate))
            {
                foreach (var (field, message) in SimulateErrors(simulate, o.MaxSimulatedDurationMs))
                    context.AddFailure($"tasks[{i}].{field}", message);
            }
        }
    }

    static string? KeyError(string? key) =>
        string.IsNullOrWhiteSpace(key) ? "key is required"
        : key.Length > MaxKeyLength ? $"key must be at most {MaxKeyLength} characters; got {key.Length}"
        : !IsStorable(key) ? "key " + UnstorableText
        : null;

    public static int JsonSize(JsonObject input) => JsonSerializer.SerializeToUtf8Bytes(input).Length;

    public static IReadOnlyList<string> Placeholders(string instructions) =>
        PlaceholderPattern().Matches(instructions).Select(m => m.Groups[1].Value).Distinct().ToList();

    /// <summary>
    /// What the worker's simulated executor honours (<c>input.simulate</c>), checked here so that a value it cannot use is
    /// refused at the door instead of failing the task minutes later.
    /// </summary>
    public static IEnumerable<(string Field, string Message)> SimulateErrors(JsonNode? simulate, int maxDurationMs)
    {
        if (simulate is not JsonObject members)
        {
            yield return ("input.simulate", $"input.simulate must be an object {{durationMs, fail, failTimes}}; got {Describe(simulate)}");
            yield break;
        }

        foreach (var (name, value) in members)
        {
            var field = "input.simulate." + name;
            switch (name)
            {
                case "durationMs" when Integer(value) is not { } ms || ms < 0 || ms > maxDurationMs:
                    yield return (field, $"{field} must be an integer from 0 to {maxDurationMs} (milliseconds); got {Describe(value)}");
                    break;
                case "fail" when !(value is JsonValue v && v.GetValueKind() == JsonValueKind.String && SimulatedFailures.Contains(v.GetValue<string>())):
                    yield return (field, $"{field} must be one of {string.Join(", ", SimulatedFailures)}; got {Describe(value)}");
                    break;
                case "failTimes" when Integer(value) is not (>= 0 and <= MaxSimulatedFailTimes):
                    yield return (field, $"{field} must be an integer from 0 to {MaxSimulatedFailTimes}; got {Describe(value)}");
                    break;
                case var unknown when !SimulateMembers.Contains(unknown):
                    yield return (field, $"{field} is unknown: simulate takes only {string.Join(", ", SimulateMembers)}");
                    break;
            }
        }
    }

    /// <summary>A JSON integer literal (<c>5</c>, not <c>5.0</c> or <c>5e0</c>), as the worker reads it; null otherwise.</summary>
    public static long? Integer(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.Number
        && long.TryParse(value.ToJsonString(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number)
            ? number
            : null;

    static string Describe(JsonNode? node)
    {
        var json = node is null ? "null" : node.ToJsonString();
        return json.Length <= 40 ? json : json[..40] + "…";
    }

    /// <summary>True for text PostgreSQL can store: no NUL character, no unpaired surrogate.</summary>
    public static bool IsStorable(string? text)
    {
        if (text is null)
            return true;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '\0')
                return false;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                i++;
            else if (char.IsSurrogate(c))
                return false;
        }

        return true;
    }

    /// <summary>The first member (path and message) of the input that PostgreSQL's jsonb would refuse, or null.</summary>
    static (string Field, string Message)? Unstorable(JsonNode? node, string path)
    {
        try
        {
            switch (node)
            {
                case JsonObject o:
                    foreach (var (name, child) in o)
                    {
                        if (!IsStorable(name))
                            return (path, $"{path} has a member name that {UnstorableText}");
                        if (Unstorable(child, $"{path}.{name}") is { } inner)
                            return inner;
                    }

                    return null;
                case JsonArray a:
                    for (var i = 0; i < a.Count; i++)
                    {
                        if (Unstorable(a[i], $"{path}[{i}]") is { } inner)
                            return inner;
                    }

                    return null;
                case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                    return IsStorable(v.GetValue<string>()) ? null : (path, $"{path} {UnstorableText}");
                case JsonValue v when v.GetValueKind() == JsonValueKind.Number:
                    // 1e400 is valid JSON, but no client can read it back as a number.
                    return double.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d)
                        ? null
                        : (path, $"{path} must be a number within ±{double.MaxValue.ToString(CultureInfo.InvariantCulture)}");
                default:
                    return null;
            }
        }
        catch (InvalidOperationException)
        {
            // System.Text.Json reads strings lazily, and refuses an unpaired surrogate escape (\ud800) only then.
            return (path, $"{path} {UnstorableText}");
        }
    }

    [GeneratedRegex(@"\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex PlaceholderPattern();
}
