using System.Diagnostics;
using System.Text;
using System.Collections.ObjectModel;
using OpenTelemetry;

namespace Platform.Telemetry.Tests;

/// <summary>A finished span as the exporter saw it, with the in-process service whose code started it.</summary>
public sealed record CollectedSpan(
    ActivityTraceId TraceId,
    ActivitySpanId SpanId,
    ActivitySpanId ParentSpanId,
    string Name,
    string Source,
    ActivityKind Kind,
    string Service,
    IReadOnlyDictionary<string, string?> Tags,
    IReadOnlyList<ActivityContext> Links,
    DateTime Start)
{
    public string? Tag(string key) => Tags.GetValueOrDefault(key);
}

/// <summary>
/// Every span OpenTelemetry's in-memory exporter (<c>AddInMemoryExporter(collector.Exported)</c>) hands over, as records.
/// Several services share this process, so each host is started with its name in <see cref="CurrentService"/>; code
/// that runs on a host's own tasks (consumers, relays, hosted services) inherits it through the execution context.
/// </summary>
public sealed class SpanCollector
{
    public static readonly AsyncLocal<string?> CurrentService = new();

    /// <summary>What the exporter adds to, from the export thread while the test reads: every access takes the lock.</summary>
    public ICollection<Activity> Exported { get; } = new LockedCollection();

    public IReadOnlyList<CollectedSpan> Spans => [.. ((LockedCollection)Exported).Snapshot().Select(Collect)];

    public IReadOnlyList<CollectedSpan> Trace(ActivityTraceId traceId) => [.. Spans.Where(s => s.TraceId == traceId)];

    static CollectedSpan Collect(Activity activity) =>
        new(activity.TraceId, activity.SpanId, activity.ParentSpanId, activity.DisplayName, activity.Source.Name, activity.Kind,
            activity.GetCustomProperty(ServiceProperty) as string ?? "?", activity.TagObjects.ToDictionary(t => t.Key, t => t.Value?.ToString()),
            [.. activity.Links.Select(l => l.Context)], activity.StartTimeUtc);

    sealed class LockedCollection : Collection<Activity>
    {
        readonly Lock _lock = new();

        protected override void InsertItem(int index, Activity item)
        {
            lock (_lock)
                base.InsertItem(index, item);
        }

        public Activity[] Snapshot()
        {
            lock (_lock)
                return [.. Items];
        }
    }

    internal const string ServiceProperty = "platform.test.service";

    /// <summary>Notes at a span's start which in-process service started it (added before the export processor).</summary>
    public sealed class ServiceMarker : BaseProcessor<Activity>
    {
        public override void OnStart(Activity data)
        {
            if (CurrentService.Value is { } service)
                data.SetCustomProperty(ServiceProperty, service);
        }
    }

    /// <summary>
    /// Spans whose service is unknown (requests on the in-memory test server do not inherit the host's execution
    /// context) take their nearest known ancestor's; ASP.NET Core's spans here are all intake's.
    /// </summary>
    public static IReadOnlyList<CollectedSpan> Attribute(IReadOnlyList<CollectedSpan> trace)
    {
        var byId = trace.ToDictionary(s => s.SpanId);

        string Of(CollectedSpan span)
        {
            for (var current = span; ; current = byId[current.ParentSpanId])
            {
                if (current.Service != "?")
                    return current.Service;
                if (current.Source == "Microsoft.AspNetCore")
                    return "intake";
                if (!byId.ContainsKey(current.ParentSpanId))
                    return "?";
            }
        }

        return [.. trace.Select(s => s with { Service = Of(s) })];
    }

    /// <summary>The trace as an indented tree, one span a line: what the test prints for the issue.</summary>
    public static string Render(IReadOnlyList<CollectedSpan> trace)
    {
        var ids = trace.Select(s => s.SpanId).ToHashSet();
        var children = trace.ToLookup(s => ids.Contains(s.ParentSpanId) ? s.ParentSpanId : default);
        var text = new StringBuilder();
        var origin = trace.Min(s => s.Start);

        void Write(CollectedSpan span, int depth)
        {
            var tags = string.Join(" ", new[] { "platform.task.id", "platform.tier", "platform.slot" }
                .Where(k => span.Tag(k) is not null).Select(k => $"{k[9..]}={Short(span.Tag(k)!)}"));
            text.Append(System.Globalization.CultureInfo.InvariantCulture,
                $"{(span.Start - origin).TotalMilliseconds,7:F0} ms  {new string(' ', depth * 2)}{span.Name}  [{span.Service}; {span.Source}]");
            if (tags.Length > 0)
                text.Append("  ").Append(tags);
            if (span.Links.Count > 0)
                text.Append("  links=").Append(span.Links.Count);
            text.AppendLine();
            foreach (var child in children[span.SpanId].OrderBy(c => c.Start))
                Write(child, depth + 1);
        }

        foreach (var root in children[default].OrderBy(s => s.Start))
            Write(root, 0);
        return text.ToString();
    }

    static string Short(string value) => Guid.TryParse(value, out _) ? value[^8..] : value;
}
