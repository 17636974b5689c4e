using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
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
    public List<TaskRequest>? Tasks { get; set; }
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

    public BatchRequestValidator(IOptions<IntakeOptions> options)
    {
        var o = options.Value;

        RuleFor(x => x.Name).Cascade(CascadeMode.Stop)
            .NotEmpty().WithMessage("name is required")
            .MaximumLength(MaxNameLength).WithMessage(x => $"name must be at most {MaxNameLength} characters; got {x.Name!.Length}")
            .OverridePropertyName("name");

        RuleFor(x => x.Instructions).Cascade(CascadeMode.Stop)
            .NotEmpty().WithMessage("instructions is required")
            .MaximumLength(o.MaxInstructionsLength)
            .WithMessage(x => $"instructions must be at most {o.MaxInstructionsLength} characters; got {x.Instructions!.Length}")
            .OverridePropertyName("instructions");

        RuleFor(x => x.Tasks).Cascade(CascadeMode.Stop)
            .NotNull().WithMessage("tasks is required")
            .NotEmpty().WithMessage("tasks must contain at least 1 task")
            .Must(t => t!.Count <= o.MaxTasksPerBatch)
            .WithMessage(x => $"tasks must contain at most {o.MaxTasksPerBatch} tasks per batch; got {x.Tasks!.Count}")
            .OverridePropertyName("tasks");

        When(x => x.Tasks is { Count: > 0 } tasks && tasks.Count <= o.MaxTasksPerBatch, () =>
        {
            RuleForEach(x => x.Tasks).ChildRules(task =>
            {
                task.RuleFor(t => t.Key).Cascade(CascadeMode.Stop)
                    .NotEmpty().WithMessage("key is required")
                    .MaximumLength(MaxKeyLength).WithMessage(t => $"key must be at most {MaxKeyLength} characters; got {t.Key!.Length}")
                    .OverridePropertyName("key");
                task.RuleFor(t => t.Input).Cascade(CascadeMode.Stop)
                    .NotNull().WithMessage("input is required (a JSON object)")
                    .Must(i => JsonSize(i!) <= o.MaxTaskInputBytes)
                    .WithMessage(t => $"input must be at most {o.MaxTaskInputBytes} bytes of JSON; got {JsonSize(t.Input!)}")
                    .OverridePropertyName("input");
            }).OverridePropertyName("tasks");

            RuleFor(x => x.Tasks).Custom((tasks, context) =>
            {
                var seen = new HashSet<string>(StringComparer.Ordinal);
                for (var i = 0; i < tasks!.Count; i++)
                {
                    if (tasks[i].Key is { Length: > 0 } key && !seen.Add(key))
                        context.AddFailure($"tasks[{i}].key", $"key '{key}' is used twice in this batch; keys must be unique");
                }
            });

            // Every placeholder of the instructions must be fillable from each task's input.
            RuleFor(x => x).Custom((batch, context) =>
            {
                var fields = Placeholders(batch.Instructions ?? "");
                for (var i = 0; i < batch.Tasks!.Count; i++)
                {
                    if (batch.Tasks[i].Input is not { } input)
                        continue;
                    foreach (var field in fields.Where(f => !input.ContainsKey(f)))
                        context.AddFailure($"tasks[{i}].input.{field}", $"input.{field} is required by the instructions' placeholder {{{field}}}");
                }
            });
        });
    }

    public static int JsonSize(JsonObject input) => JsonSerializer.SerializeToUtf8Bytes(input).Length;

    public static IReadOnlyList<string> Placeholders(string instructions) =>
        PlaceholderPattern().Matches(instructions).Select(m => m.Groups[1].Value).Distinct().ToList();

    [GeneratedRegex(@"\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex PlaceholderPattern();
}
