using System.Diagnostics;
using System.Diagnostics.Metrics;
using Platform.ServiceDefaults;

namespace Platform.Dispatch;

/// <summary>
/// The orchestrator's spans and metrics for dispatch. A decision is one span in the trace of the event that triggered
/// it; each task it dispatches gets a "dispatch task" span in that task's own trace (parent: the submission that queued
/// the task, stored on its row), linked to the decision. The task's ExecuteTask is written under that span, so the
/// worker's side of the task continues the task's trace, not the trigger's.
/// </summary>
public static class DispatchTelemetry
{
    public const string Name = "Platform.Dispatch";

    public static readonly ActivitySource Source = new(Name);

    public static readonly Meter Meter = new(Name);

    static readonly Counter<long> Dispatched = Meter.CreateCounter<long>("platform.tasks.dispatched", "{task}",
        "Tasks given a slot and sent to the workers (ExecuteTask), per tier");

    /// <summary>From the event that freed a slot or added work to the committed dispatch of the next tasks.</summary>
    public static readonly Histogram<double> Latency = Meter.CreateHistogram<double>("platform.dispatch.latency", "ms",
        "Time from a triggering event (task finished, batch submitted, …) to the committed dispatch it caused",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] });

    static readonly Histogram<double> DecisionDuration = Meter.CreateHistogram<double>("platform.dispatch.decision.duration", "ms",
        "Time one dispatch decision (UserWorkQueue.FillSlots) takes, lock wait included",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500] });

    /// <summary>
    /// A dispatch decision for a user, as a child of the triggering message's span. None without a trigger (the
    /// reconciler's pass every second): that would start a new trace each second per user with open batches.
    /// </summary>
    public static Activity? StartDecision(string userId) =>
        Activity.Current is null ? null : Source.StartActivity("dispatch decision").Tag(userId);

    public static void Decided(Activity? decision, long startedAt, int dispatched)
    {
        decision?.SetTag("platform.dispatch.dispatched", dispatched);
        DecisionDuration.Record(Stopwatch.GetElapsedTime(startedAt).TotalMilliseconds,
            new KeyValuePair<string, object?>("platform.dispatch.outcome", dispatched > 0 ? "dispatched" : "none"));
    }

    /// <summary>
    /// Starts the span that a dispatched task's <c>ExecuteTask</c> is written under: a child of the task's queued
    /// context (<paramref name="taskTraceParent"/>), linked to the decision that chose it.
    /// </summary>
    public static Activity? StartDispatch(string? taskTraceParent, string userId, string tier, Guid taskId, Guid batchId, int slot, int attempt)
    {
        Dispatched.Add(1, new KeyValuePair<string, object?>(PlatformTags.Tier, tier));

        var decision = Activity.Current;
        var parent = taskTraceParent is not null && ActivityContext.TryParse(taskTraceParent, null, out var queued) ? queued : default;
        ActivityLink[]? links = decision is null || parent == default ? null : [new ActivityLink(decision.Context)];
        var activity = Source.StartActivity("dispatch task", ActivityKind.Internal, parent, links: links)
            .Tag(userId, batchId, taskId, tier, slot, attempt);
        // Every consumed message runs inside MassTransit's span: a decision without one is the reconciler's.
        activity?.SetTag("platform.dispatch.trigger", decision is null ? "reconciler" : "event");
        return activity;
    }
}
