using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Platform.Intake.Submission;

/// <summary>Intake's spans and metrics: every submission is a span (the parent of its tasks' traces), refusals are counted.</summary>
public static class SubmissionTelemetry
{
    public const string Name = "Platform.Intake";

    public static readonly ActivitySource Source = new(Name);

    static readonly Meter Meter = new(Name);

    /// <summary>Batches refused because they do not fit the user's remaining monthly quota, per tier.</summary>
    public static readonly Counter<long> QuotaRefusals = Meter.CreateCounter<long>("platform.quota.refusals", "{batch}",
        "Batches refused at intake because they exceed the user's remaining monthly quota");

    /// <summary>Tasks accepted into the system, per tier.</summary>
    public static readonly Counter<long> TasksAccepted = Meter.CreateCounter<long>("platform.tasks.accepted", "{task}",
        "Tasks accepted at intake (queued)");
}
