using MassTransit;

namespace Platform.Data.Sagas;

/// <summary>The batch saga's row: lifecycle and counters of terminal tasks, owned by the orchestrator's state machine.</summary>
public sealed class BatchState : SagaStateMachineInstance
{
    public Guid CorrelationId { get; set; }

    /// <summary>State name as a string (readable in psql, immune to reordering).</summary>
    public string CurrentState { get; set; } = "";

    public string UserId { get; set; } = "";
    public int Total { get; set; }
    public int Completed { get; set; }
    public int Failed { get; set; }
    public int Cancelled { get; set; }
    public DateTimeOffset SubmittedAt { get; set; }
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? FinishedAt { get; set; }
    public DateTimeOffset UpdatedAt { get; set; }

    public int Terminal => Completed + Failed + Cancelled;
}
