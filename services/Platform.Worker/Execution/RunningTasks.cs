namespace Platform.Worker.Execution;

/// <summary>
/// The tasks this worker instance is running, each with the source of its cancellation, so that a batch's
/// cancellation reaches the research executor of every one of its tasks here. Bounded by the worker's capacity.
/// </summary>
/// <remarks>
/// A task is registered just after its claim commits, and a cancellation committed after the claim is announced after
/// it, so the announcement can arrive in between: the batches cancelled in the last <see cref="Remember"/> are kept,
/// and a registration for one of them starts cancelled.
/// </remarks>
public sealed class RunningTasks(TimeProvider clock)
{
    /// <summary>How long a cancellation is remembered for registrations that come after it.</summary>
    public static readonly TimeSpan Remember = TimeSpan.FromMinutes(1);

    readonly Lock _gate = new();
    readonly HashSet<Registration> _running = [];
    readonly Dictionary<Guid, DateTimeOffset> _cancelled = [];

    /// <summary>Registers an attempt of a task of <paramref name="batchId"/> until the returned registration is disposed.</summary>
    public Registration Register(Guid batchId)
    {
        var registration = new Registration(this, batchId);
        bool cancelled;
        lock (_gate)
        {
            _running.Add(registration);
            cancelled = _cancelled.ContainsKey(batchId);
        }

        if (cancelled)
            registration.Cancel();
        return registration;
    }

    /// <summary>Cancels every registered attempt of the batch's tasks, and those registered soon after; returns how many it told to stop.</summary>
    public int CancelBatch(Guid batchId)
    {
        var now = clock.GetUtcNow();
        List<Registration> batch;
        lock (_gate)
        {
            foreach (var old in _cancelled.Where(c => now - c.Value > Remember).Select(c => c.Key).ToList())
                _cancelled.Remove(old);
            _cancelled[batchId] = now;
            batch = _running.Where(r => r.BatchId == batchId).ToList();
        }

        // Outside the lock: a cancellation's callbacks may run the attempt's ending on this thread.
        return batch.Count(r => r.Cancel());
    }

    public int Count
    {
        get
        {
            lock (_gate)
                return _running.Count;
        }
    }

    void Unregister(Registration registration)
    {
        lock (_gate)
            _running.Remove(registration);
    }

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
            _owner.Unregister(this);
            _cancellation.Dispose();
        }
    }
}
