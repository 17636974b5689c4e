using System.Collections.Concurrent;
using System.Diagnostics;
using Platform.Dispatch;

namespace Platform.Orchestrator.Dispatch;

/// <summary>
/// Runs one user's dispatch decisions one at a time in this process, and lets a decision stand in for every request
/// made before it started. A decision reads the rows after it starts, so it sees everything that any earlier request
/// was told about (a message is only received after the change it announces has committed). Fifty events (failures,
/// retries, cancellations) of one busy user arriving together therefore cost one or two decisions instead of fifty,
/// and a request is answered only once a decision that covers it has succeeded: nothing is acknowledged unseen.
/// Across processes (other orchestrators, and workers refilling the slots they free), the user's dispatch lock inside
/// <see cref="UserWorkQueue"/> serializes decisions.
/// </summary>
public sealed class DispatchGate
{
    // One small lane per user that ever asked; bounded by the number of users, like the users table.
    readonly ConcurrentDictionary<string, Lane> _lanes = new();

    /// <summary>Runs <paramref name="decide"/> unless a decision that started after this call has already succeeded; returns what this call dispatched.</summary>
    public async Task<int> Decide(string userId, Func<CancellationToken, Task<int>> decide, CancellationToken cancellationToken)
    {
        var lane = _lanes.GetOrAdd(userId, _ => new Lane());
        var ticket = Interlocked.Increment(ref lane.Requested);
        await lane.Turn.WaitAsync(cancellationToken);
        try
        {
            if (Volatile.Read(ref lane.Covered) >= ticket)
            {
                Activity.Current?.AddEvent(new ActivityEvent("dispatch covered by a decision that started after this request"));
                return 0;
            }

            var covers = Volatile.Read(ref lane.Requested);
            using var decision = DispatchTelemetry.StartDecision(userId);
            decision?.SetTag("platform.dispatch.covers", covers - ticket + 1);
            var started = Stopwatch.GetTimestamp();
            var dispatched = await decide(cancellationToken);
            DispatchTelemetry.Decided(decision, started, dispatched);
            Volatile.Write(ref lane.Covered, covers);
            return dispatched;
        }
        finally
        {
            lane.Turn.Release();
        }
    }

#pragma warning disable CA1001 // SemaphoreSlim needs disposing only once its wait handle was used; lanes live as long as the process.
    sealed class Lane
#pragma warning restore CA1001
    {
        public readonly SemaphoreSlim Turn = new(1, 1);

        /// <summary>Tickets handed out so far.</summary>
        public long Requested;

        /// <summary>Every ticket up to this one was issued before a decision that then succeeded.</summary>
        public long Covered;
    }
}
