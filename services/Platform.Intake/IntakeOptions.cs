using System.ComponentModel.DataAnnotations;

namespace Platform.Intake;

public sealed class IntakeOptions
{
    public const string Section = "Platform";

    /// <summary>Bearer key of the admin API (<c>Platform__AdminApiKey</c>). Required: there is no default admin.</summary>
    [Required, MinLength(16)]
    public string AdminApiKey { get; set; } = "";

    [Range(1, 1_000_000)]
    public int MaxTasksPerBatch { get; set; } = 10_000;

    /// <summary>Largest JSON of one task's input, in bytes.</summary>
    [Range(64, 10_000_000)]
    public int MaxTaskInputBytes { get; set; } = 16 * 1024;

    [Range(1024, 1_000_000_000)]
    public long MaxRequestBodyBytes { get; set; } = 64L * 1024 * 1024;

    [Range(1, 100_000)]
    public int MaxInstructionsLength { get; set; } = 8_000;

    /// <summary>
    /// Longest <c>simulate.durationMs</c> a task may ask for: below the worker's maximum run time (15 min), so a simulated
    /// task is never cut off as overrunning.
    /// </summary>
    [Range(0, int.MaxValue)]
    public int MaxSimulatedDurationMs { get; set; } = 600_000;
}
