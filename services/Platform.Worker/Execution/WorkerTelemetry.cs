using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Platform.Worker.Execution;

/// <summary>The worker's spans (a task's run and its executor's stages) and metrics (durations, retries, outcomes).</summary>
public static class WorkerTelemetry
{
    public const string Name = "Platform.Worker";

    public static readonly ActivitySource Source = new(Name);

    static readonly Meter Meter = new(Name);

    /// <summary>One attempt of a task, from its claim to its outcome, per tier and outcome (completed, retrying, failed).</summary>
    public static readonly Histogram<double> TaskDuration = Meter.CreateHistogram<double>("platform.task.duration", "s",
        "Duration of one attempt of a research task, from claim to outcome",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800] });

    /// <summary>Attempts that failed transiently and were queued again, per tier.</summary>
    public static readonly Counter<long> Retries = Meter.CreateCounter<long>("platform.task.retries", "{attempt}",
        "Task attempts that failed transiently and were queued again with a backoff");

    /// <summary>A stage of the research executor (search, extract, analyze, save), as a child of the task's run.</summary>
    public static Activity? StartStage(string stage)
    {
        var activity = Source.StartActivity("research " + stage);
        activity?.SetTag("platform.research.stage", stage);
        return activity;
    }
}
