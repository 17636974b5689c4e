using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Platform.Worker.Research;

/// <summary>
/// What a task's <c>input.simulate</c> asks of <see cref="SimulatedResearchExecutor"/>. Intake refuses values it cannot
/// run; a row that holds one anyway (written before intake checked, or by hand) fails its task permanently with a
/// message naming the member, rather than throwing out of the executor as a crash would.
/// </summary>
public sealed record SimulatedRun(int DurationMs, string? Fail, int FailTimes)
{
    public static readonly IReadOnlyList<string> Failures = ["transient", "permanent", "crash"];

    public static SimulatedRun Read(JsonObject input, int defaultDurationMs)
    {
        if (!input.TryGetPropertyValue("simulate", out var node))
            return new SimulatedRun(defaultDurationMs, null, int.MaxValue);
        if (node is not JsonObject simulate)
            throw Unreadable("simulate must be an object {durationMs, fail, failTimes}");

        var durationMs = simulate.TryGetPropertyValue("durationMs", out var duration)
            ? Integer(duration) ?? throw Unreadable($"simulate.durationMs must be an integer from 0 to {int.MaxValue} (milliseconds); got {Text(duration)}")
            : defaultDurationMs;
        var failTimes = simulate.TryGetPropertyValue("failTimes", out var times)
            ? Integer(times) ?? throw Unreadable($"simulate.failTimes must be an integer from 0 to {int.MaxValue}; got {Text(times)}")
            : int.MaxValue;
        string? fail = null;
        if (simulate.TryGetPropertyValue("fail", out var failure))
        {
            fail = failure is JsonValue v && v.GetValueKind() == JsonValueKind.String && Failures.Contains(v.GetValue<string>())
                ? v.GetValue<string>()
                : throw Unreadable($"simulate.fail must be one of {string.Join(", ", Failures)}; got {Text(failure)}");
        }

        return new SimulatedRun(durationMs, fail, failTimes);
    }

    /// <summary>A non-negative JSON integer literal that fits an int, or null.</summary>
    static int? Integer(JsonNode? node) =>
        node is JsonValue value && value.GetValueKind() == JsonValueKind.Number
        && int.TryParse(value.ToJsonString(), NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? number
            : null;

    static string Text(JsonNode? node) => node is null ? "null" : node.ToJsonString();

    static ResearchFailedException Unreadable(string message) => new($"the task's input cannot be simulated: {message}", transient: false);
}
