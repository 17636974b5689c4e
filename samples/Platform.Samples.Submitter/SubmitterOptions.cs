namespace Platform.Samples.Submitter;

/// <summary>What the sample submits and how long it waits (section <c>Submitter</c>).</summary>
public sealed class SubmitterOptions
{
    public const string Section = "Submitter";

    /// <summary>The platform user the batch belongs to; the admin API creates users (<c>POST /v1/users</c>).</summary>
    public string UserId { get; set; } = "";

    public string BatchName { get; set; } = "sample batch";

    /// <summary>The template each task runs; its placeholders are filled from the task's input (<c>company</c>).</summary>
    public string Instructions { get; set; } = "Research {company}: founding year, HQ";

    /// <summary>How many tasks, one per company: <c>Company 1</c>, <c>Company 2</c>, …</summary>
    public int TaskCount { get; set; } = 3;

    /// <summary>When set, each task runs on the platform's simulated executor for this long instead of a provider.</summary>
    public int? SimulateDurationMs { get; set; }

    /// <summary>How long to wait, from the start, for the batch to finish.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(10);
}
