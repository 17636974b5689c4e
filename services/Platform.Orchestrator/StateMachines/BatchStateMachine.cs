using MassTransit;
using Platform.Contracts;
using Platform.Data.Sagas;

namespace Platform.Orchestrator.StateMachines;

/// <summary>
/// The lifecycle of one batch: queued → running → completed | completed_with_failures | cancelled.
/// It counts from the task rows, per batch: every event that can mean "tasks of this batch ended" counts each task that
/// ended since the last count exactly once (<see cref="ITaskLedger"/>), so duplicates, redeliveries and coalesced
/// notifications leave the counters equal to the task rows. It never chooses which task runs next: that is the user work queue's job.
/// </summary>
public sealed class BatchStateMachine : MassTransitStateMachine<BatchState>
{
    public BatchStateMachine()
    {
        InstanceState(x => x.CurrentState);

        Event(() => BatchSubmitted, x => x.CorrelateById(m => m.Message.BatchId));
        Event(() => TaskStarted, x =>
        {
            x.CorrelateById(m => m.Message.BatchId);
            x.OnMissingInstance(m => m.Fault()); // retried until BatchSubmitted has created the saga
        });
        Event(() => TaskCompleted, x =>
        {
            x.CorrelateById(m => m.Message.BatchId);
            x.OnMissingInstance(m => m.Fault());
        });
        Event(() => TaskFailed, x =>
        {
            x.CorrelateById(m => m.Message.BatchId);
            x.OnMissingInstance(m => m.Fault());
        });
        Event(() => TaskCancelled, x =>
        {
            x.CorrelateById(m => m.Message.BatchId);
            x.OnMissingInstance(m => m.Fault());
        });
        Event(() => BatchTasksEnded, x =>
        {
            x.CorrelateById(m => m.Message.BatchId);
            x.OnMissingInstance(m => m.Fault());
        });
        Event(() => BatchCancellationRequested, x =>
        {
            x.CorrelateById(m => m.Message.BatchId);
            x.OnMissingInstance(m => m.Fault());
        });

        Initially(
            When(BatchSubmitted)
                .Then(x =>
                {
                    x.Saga.UserId = x.Message.UserId;
                    x.Saga.Total = x.Message.Total;
                    x.Saga.SubmittedAt = x.Message.Timestamp;
                    x.Saga.UpdatedAt = x.Message.Timestamp;
                })
                .TransitionTo(Queued));

        During(Queued,
            When(TaskStarted)
                .MarkStarted()
                .TransitionTo(Running));

        // Level-triggered: any event that can mean "tasks of this batch ended" counts every task of the batch that ended
        // since the last count, so a lost, late or duplicated one costs nothing but its own delivery.
        During(Queued, Running,
            When(TaskCompleted)
                .CountEnded()
                .RunOrFinish(this),
            When(TaskFailed)
                .CountEnded()
                .RunOrFinish(this),
            When(TaskCancelled)
                .CountEnded()
                .RunOrFinish(this),
            When(BatchTasksEnded)
                .CountEnded()
                .RunOrFinish(this),
            When(BatchCancellationRequested)
                .CountEnded()
                .RunOrFinish(this));

        // Redelivered submissions, late starts, and terminal events after the batch ended change nothing.
        DuringAny(
            When(BatchSubmitted).Then(_ => { }),
            When(TaskStarted).Then(_ => { }));

        During(Completed, CompletedWithFailures, Cancelled,
            When(TaskCompleted).Then(_ => { }),
            When(TaskFailed).Then(_ => { }),
            When(TaskCancelled).Then(_ => { }),
            When(BatchTasksEnded).Then(_ => { }),
            When(BatchCancellationRequested).Then(_ => { }));
    }

    /// <summary>The API's status name of a state: <c>CompletedWithFailures</c> → <c>completed_with_failures</c>.</summary>
    public static string StatusOf(string stateName) => stateName switch
    {
        "" or "Initial" => "queued",
        _ => Platform.Data.Naming.ToSnakeCase(stateName),
    };

    public State Queued { get; private set; } = null!;
    public State Running { get; private set; } = null!;
    public State Completed { get; private set; } = null!;
    public State CompletedWithFailures { get; private set; } = null!;
    public State Cancelled { get; private set; } = null!;

    public Event<BatchSubmitted> BatchSubmitted { get; private set; } = null!;
    public Event<TaskStarted> TaskStarted { get; private set; } = null!;
    public Event<TaskCompleted> TaskCompleted { get; private set; } = null!;
    public Event<TaskFailed> TaskFailed { get; private set; } = null!;
    public Event<TaskCancelled> TaskCancelled { get; private set; } = null!;
    public Event<BatchTasksEnded> BatchTasksEnded { get; private set; } = null!;
    public Event<BatchCancellationRequested> BatchCancellationRequested { get; private set; } = null!;
}

static class BatchStateMachineBehaviors
{
    public static EventActivityBinder<BatchState, T> MarkStarted<T>(this EventActivityBinder<BatchState, T> binder)
        where T : class =>
        binder.Then(x =>
        {
            x.Saga.StartedAt ??= DateTimeOffset.UtcNow;
            x.Saga.UpdatedAt = DateTimeOffset.UtcNow;
        });

    /// <summary>
    /// Counts the batch's tasks that ended since the last count, each once whatever the number of events about it (see
    /// <see cref="ITaskLedger"/>). Nothing new ends the event here: nothing changed, so there is nothing to transition,
    /// report or finish.
    /// </summary>
    public static EventActivityBinder<BatchState, T> CountEnded<T>(this EventActivityBinder<BatchState, T> binder)
        where T : class =>
        binder.Activity(x => x.OfType<CountEndedTasksActivity<T>>());

    /// <summary>
    /// Running while tasks remain; once every task is terminal, the outcome state and <see cref="BatchFinished"/>.
    /// Progress is published after the transition so that its status is the one these tasks left the batch in.
    /// </summary>
    public static EventActivityBinder<BatchState, T> RunOrFinish<T>(this EventActivityBinder<BatchState, T> binder, BatchStateMachine machine)
        where T : class =>
        binder.MarkStarted().IfElse(x => x.Saga.Terminal < x.Saga.Total,
            running => running.TransitionTo(machine.Running).PublishProgress(),
            finished => finished
                .Then(x => x.Saga.FinishedAt = DateTimeOffset.UtcNow)
                .IfElse(x => x.Saga.Cancelled > 0,
                    cancelled => cancelled.TransitionTo(machine.Cancelled),
                    ended => ended.IfElse(x => x.Saga.Failed > 0,
                        withFailures => withFailures.TransitionTo(machine.CompletedWithFailures),
                        completed => completed.TransitionTo(machine.Completed)))
                .PublishProgress()
                .Publish(x => new BatchFinished(x.Saga.CorrelationId, x.Saga.UserId, BatchStateMachine.StatusOf(x.Saga.CurrentState),
                    x.Saga.Total, x.Saga.Completed, x.Saga.Failed, x.Saga.Cancelled, DateTimeOffset.UtcNow)));

    static EventActivityBinder<BatchState, T> PublishProgress<T>(this EventActivityBinder<BatchState, T> binder)
        where T : class =>
        binder.Publish(x => new BatchProgressed(x.Saga.CorrelationId, x.Saga.UserId, BatchStateMachine.StatusOf(x.Saga.CurrentState),
            x.Saga.Total, x.Saga.Completed, x.Saga.Failed, x.Saga.Cancelled, x.Saga.UpdatedAt));
}
