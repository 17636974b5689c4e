using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Platform.Cli.Watching;

/// <summary>Counters read off a batch view (the JSON of <c>GET /v1/batches/{id}</c>).</summary>
public readonly record struct Counters(string Name, string Status, int Total, int Queued, int Running, int Completed, int Failed, int Cancelled, double? Eta)
{
    public int Done => Completed + Failed + Cancelled;

    public static Counters Of(JsonObject batch)
    {
        int Count(string name) => batch[name] is JsonValue v && v.TryGetValue<int>(out var n) ? n : 0;
        return new Counters(batch["name"]?.GetValue<string>() ?? "", batch["status"]?.GetValue<string>() ?? "?", Count("total"), Count("queued"),
            Count("running"), Count("completed"), Count("failed"), Count("cancelled"),
            batch["etaSeconds"] is JsonValue e && e.TryGetValue<double>(out var eta) ? eta : null);
    }

    public string Describe() =>
        $"{Done}/{Total} {Status}: running {Running}, queued {Queued}, failed {Failed}" +
        (Cancelled > 0 ? $", cancelled {Cancelled}" : "") + (Eta is { } e ? $", eta {e.ToString("0", CultureInfo.InvariantCulture)}s" : ", eta -");
}

/// <summary>For logs and CI: a line whenever a batch's counters change, and one for each task that fails.</summary>
public sealed class PlainObserver(TextWriter output) : IBatchObserver
{
    readonly Stopwatch _watch = Stopwatch.StartNew();
    readonly Dictionary<string, string> _last = [];
    readonly Lock _lock = new();

    public void Progress(string batchId, JsonObject batch)
    {
        var line = Counters.Of(batch).Describe();
        lock (_lock)
        {
            if (_last.TryGetValue(batchId, out var last) && last == line)
                return;
            _last[batchId] = line;
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{_watch.Elapsed.TotalSeconds,6:0.0}s {Short(batchId)} {line}"));
        }
    }

    public void Task(string batchId, JsonObject task)
    {
        if (task["status"]?.GetValue<string>() != "failed")
            return;
        lock (_lock)
            output.WriteLine($"        {Short(batchId)} task {task["key"]} failed: {task["error"]}");
    }

    public void Reconnecting(string batchId, Exception reason, int attempt)
    {
        lock (_lock)
            output.WriteLine($"        {Short(batchId)} connection lost ({reason.Message}); reconnecting (attempt {attempt})");
    }

    // The last 8 characters: a UUIDv7 begins with its timestamp, so batches submitted within a minute share their first 8.
    internal static string Short(string batchId) => batchId.Length > 8 ? batchId[^8..] : batchId;
}

/// <summary>On a terminal: one live progress bar per batch (Spectre.Console), its counters beside it.</summary>
public sealed class BarsObserver(IAnsiConsole console, IReadOnlyDictionary<string, ProgressTask> bars) : IBatchObserver
{
    public void Progress(string batchId, JsonObject batch)
    {
        var c = Counters.Of(batch);
        var bar = bars[batchId];
        bar.MaxValue = Math.Max(1, c.Total);
        bar.Value = c.Done;
        bar.Description = Markup.Escape($"{PlainObserver.Short(batchId)} {Trim(c.Name)} {c.Describe()}");
        if (BatchFollower.IsFinished(c.Status))
            bar.StopTask();
    }

    public void Task(string batchId, JsonObject task)
    {
        if (task["status"]?.GetValue<string>() == "failed")
            console.MarkupLineInterpolated($"[red]{PlainObserver.Short(batchId)} task {task["key"]?.ToString()} failed:[/] {task["error"]?.ToString()}");
    }

    public void Reconnecting(string batchId, Exception reason, int attempt) =>
        console.MarkupLineInterpolated($"[yellow]{PlainObserver.Short(batchId)} connection lost ({reason.Message}); reconnecting (attempt {attempt})[/]");

    static string Trim(string name) => name.Length > 24 ? name[..23] + "…" : name;
}
