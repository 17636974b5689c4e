using MassTransit;
using Platform.Data.Sagas;

namespace Platform.Data.Tests.Sagas;

public sealed record CounterIncremented(Guid CounterId);

/// <summary>Increments like <see cref="CounterIncremented"/>, then keeps its transaction (and the row lock) open until the test lets go.</summary>
public sealed record CounterHeld(Guid CounterId);

public sealed record CounterClosed(Guid CounterId);

/// <summary>Increments in memory only: its event is read-only, so the repository must not save what it changed.</summary>
public sealed record CounterPeeked(Guid CounterId);

/// <summary>
/// The smallest saga that can lose an update: read a counter, add one, write it back. It runs on the batch saga's
/// table (<see cref="BatchState"/>, the repository's only saga type) without task rows or ledger, so nothing but the
/// repository stands between events; and it reaches what the batch state machine never does (finalizing, read-only
/// events, holding a transaction open on demand, a forced race to insert).
/// Columns borrowed: <see cref="BatchState.Completed"/> counts applied events, <see cref="BatchState.Failed"/> those
/// that applied only on a redelivery, <see cref="BatchState.UpdatedAt"/> when the last one ran and
/// <see cref="BatchState.FinishedAt"/> when a <see cref="CounterHeld"/> let go of the row.
/// </summary>
public sealed class CounterStateMachine : MassTransitStateMachine<BatchState>
{
    public CounterStateMachine()
    {
        InstanceState(x => x.CurrentState);

        Event(() => Incremented, x => x.CorrelateById(m => m.Message.CounterId));
        Event(() => Held, x =>
        {
            x.CorrelateById(m => m.Message.CounterId);
            x.OnMissingInstance(m => m.Fault());
        });
        Event(() => Closed, x => x.CorrelateById(m => m.Message.CounterId));
        Event(() => Peeked, x =>
        {
            x.CorrelateById(m => m.Message.CounterId);
            x.OnMissingInstance(m => m.Fault());
            x.ReadOnly = true;
        });

        Initially(
            When(Incremented)
                .CountEvent()
                .Activity(x => x.OfType<FirstEventBarrierActivity>())
                .TransitionTo(Counting),
            When(Closed)
                .Finalize());

        During(Counting,
            When(Incremented)
                .CountEvent(),
            When(Held)
                .CountEvent()
                .Activity(x => x.OfType<HoldRowActivity>()),
            When(Peeked)
                .CountEvent(),
            When(Closed)
                .Finalize());

        SetCompletedWhenFinalized();
    }

    public State Counting { get; private set; } = null!;

    public Event<CounterIncremented> Incremented { get; private set; } = null!;
    public Event<CounterHeld> Held { get; private set; } = null!;
    public Event<CounterClosed> Closed { get; private set; } = null!;
    public Event<CounterPeeked> Peeked { get; private set; } = null!;
}

static class CounterStateMachineBehaviors
{
    public static EventActivityBinder<BatchState, T> CountEvent<T>(this EventActivityBinder<BatchState, T> binder)
        where T : class =>
        binder.Then(x =>
        {
            x.Saga.Completed++;
            // A redelivered attempt that applies is one whose earlier attempt failed: in a race to insert, the loser.
            if (x.GetRetryAttempt() > 0)
                x.Saga.Failed++;
            x.Saga.UpdatedAt = DateTimeOffset.UtcNow;
        });
}

/// <summary>
/// Holds events that found no instance (they run <c>Initially</c>, between a load that returned nothing and their
/// insert) until a number of them have got there: they then all insert the same new row at once, for certain.
/// </summary>
public sealed class FirstEventBarrier(int events)
{
    int _arrived;
    readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task Arrive(CancellationToken cancellationToken)
    {
        if (Interlocked.Increment(ref _arrived) >= events)
            _all.TrySetResult();
        // Bounded so that a broken test fails on its assertions instead of hanging the endpoint.
        await _all.Task.WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
    }
}

/// <summary>Waits at the <see cref="FirstEventBarrier"/> of a test that registers one; passes straight through otherwise.</summary>
public sealed class FirstEventBarrierActivity(FirstEventBarrier? barrier = null) : IStateMachineActivity<BatchState, CounterIncremented>
{
    public async Task Execute(BehaviorContext<BatchState, CounterIncremented> context, IBehavior<BatchState, CounterIncremented> next)
    {
        if (barrier is not null)
            await barrier.Arrive(context.CancellationToken);
        await next.Execute(context);
    }

    public Task Faulted<TException>(BehaviorExceptionContext<BatchState, CounterIncremented, TException> context,
        IBehavior<BatchState, CounterIncremented> next)
        where TException : Exception =>
        next.Faulted(context);

    public void Probe(ProbeContext context) => context.CreateScope("first-event-barrier");

    public void Accept(StateMachineVisitor visitor) => visitor.Visit(this);
}

/// <summary>Lets a test decide when a <see cref="CounterHeld"/> transaction, which holds the saga's row lock, may commit.</summary>
public sealed class RowHolder
{
    public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

public sealed class HoldRowActivity(RowHolder holder) : IStateMachineActivity<BatchState, CounterHeld>
{
    public async Task Execute(BehaviorContext<BatchState, CounterHeld> context, IBehavior<BatchState, CounterHeld> next)
    {
        holder.Entered.TrySetResult();
        // Bounded so that a broken test fails instead of hanging the endpoint.
        await holder.Release.Task.WaitAsync(TimeSpan.FromSeconds(10), context.CancellationToken);
        // The repository saves and commits right after this: every later load of the row must see a later clock.
        context.Saga.FinishedAt = DateTimeOffset.UtcNow;
        await next.Execute(context);
    }

    public Task Faulted<TException>(BehaviorExceptionContext<BatchState, CounterHeld, TException> context, IBehavior<BatchState, CounterHeld> next)
        where TException : Exception =>
        next.Faulted(context);

    public void Probe(ProbeContext context) => context.CreateScope("hold-row");

    public void Accept(StateMachineVisitor visitor) => visitor.Visit(this);
}
