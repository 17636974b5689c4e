using System.Collections.Concurrent;

namespace Platform.Worker.Execution;

/// <summary>
/// The tasks this worker instance is running, each with the source of its cancellation, so that a batch's
/// cancellation reaches the research executor of every one of its tasks here. Bounded by the worker's capacity.
/// </summary>
public sealed class RunningTasks
{
    readonly ConcurrentDictionary<Registration, byte> _running = new();

    /// <summary>Registers an attempt of a task of <paramref name="batchId"/> until the returned registration is disposed.</summary>
    public Registration Register(Guid batchId)
    {
        var registration = new Registration(this, batchId);
        _running.TryAdd(registration, 0);
        return registration;
    }

    /// <summary>Cancels every registered attempt of the batch's tasks; returns how many it told to stop.</summary>
    public int CancelBatch(Guid batchId)
    {
        var cancelled = 0;
        foreach (var registration in _running.Keys)
        {
            if (registration.BatchId == batchId && registration.Cancel())
                cancelled++;
        }

        return cancelled;
    }

    public int Count => _running.Count;

    public sealed class Registration : IDisposable
    {
        readonly RunningTasks _owner;
        readonly CancellationTokenSource _cancellation = new();

        internal Registration(RunningTasks owner, Guid batchId)
        {
            _owner = owner;
            BatchId = batchId;
        }

        public Guid BatchId { get; }

        /// <summary>Cancelled when the task's batch is cancelled, and only then (never by this host stopping).</summary>
        public CancellationToken Token => _cancellation.Token;

        /// <summary>The batch was cancelled: an <see cref="OperationCanceledException"/> of the executor means "stop", not "shutting down".</summary>
        public bool CancellationRequested => _cancellation.IsCancellationRequested;

        internal bool Cancel()
        {
            try
            {
                if (_cancellation.IsCancellationRequested)
                    return false;
                _cancellation.Cancel();
                return true;
            }
            catch (ObjectDisposedException)
            {
                // The attempt ended while the cancellation arrived: nothing left to stop.
                return false;
            }
        }

        public void Dispose()
        {
            _owner._running.TryRemove(this, out _);
            _cancellation.Dispose();
        }
    }
}
