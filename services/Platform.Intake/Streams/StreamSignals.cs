namespace Platform.Intake.Streams;

/// <summary>
/// One stream's doorbell: any number of rings between two reads make one wake-up (a message is a wake-up, not data;
/// the stream then reads the database from its cursor).
/// </summary>
public sealed class StreamWaker : IDisposable
{
    readonly SemaphoreSlim _rung = new(0, 1);

    public void Wake()
    {
        try
        {
            if (_rung.CurrentCount == 0)
                _rung.Release();
        }
        catch (SemaphoreFullException)
        {
            // Rung twice at once: one wake-up is pending, which is all a ring means.
        }
        catch (ObjectDisposedException)
        {
            // The stream ended while a message for it was being handled.
        }
    }

    /// <summary>True when rung, false when <paramref name="timeout"/> passed first.</summary>
    public Task<bool> Wait(TimeSpan timeout, CancellationToken cancellationToken) => _rung.WaitAsync(timeout, cancellationToken);

    public void Dispose() => _rung.Dispose();
}

/// <summary>Who is watching which batch and which user's queue in this intake instance, so that a message wakes only them.</summary>
public sealed class StreamSignals
{
    readonly Lock _gate = new();
    readonly Dictionary<Guid, HashSet<StreamWaker>> _batches = [];
    readonly Dictionary<string, HashSet<StreamWaker>> _users = new(StringComparer.Ordinal);
    // The admin's fleet stream: any change anywhere may move the fleet's figures.
    readonly Dictionary<bool, HashSet<StreamWaker>> _all = [];

    public int Watching
    {
        get
        {
            lock (_gate)
                return _batches.Values.Sum(s => s.Count) + _users.Values.Sum(s => s.Count) + _all.Values.Sum(s => s.Count);
        }
    }

    public IDisposable WatchBatch(Guid batchId, StreamWaker waker) => Watch(_batches, batchId, waker);

    public IDisposable WatchUser(string userId, StreamWaker waker) => Watch(_users, userId, waker);

    public IDisposable WatchAll(StreamWaker waker) => Watch(_all, true, waker);

    /// <summary>Something about <paramref name="batchId"/> of <paramref name="userId"/> changed (either may be null).</summary>
    public void Wake(Guid? batchId, string? userId)
    {
        List<StreamWaker> wake = [];
        lock (_gate)
        {
            if (batchId is { } b && _batches.TryGetValue(b, out var byBatch))
                wake.AddRange(byBatch);
            if (userId is not null && _users.TryGetValue(userId, out var byUser))
                wake.AddRange(byUser);
            if (_all.TryGetValue(true, out var all))
                wake.AddRange(all);
        }

        foreach (var waker in wake)
            waker.Wake();
    }

    Subscription<TKey> Watch<TKey>(Dictionary<TKey, HashSet<StreamWaker>> map, TKey key, StreamWaker waker) where TKey : notnull
    {
        lock (_gate)
        {
            if (!map.TryGetValue(key, out var set))
                map[key] = set = [];
            set.Add(waker);
        }

        return new Subscription<TKey>(this, map, key, waker);
    }

    void Unwatch<TKey>(Dictionary<TKey, HashSet<StreamWaker>> map, TKey key, StreamWaker waker) where TKey : notnull
    {
        lock (_gate)
        {
            if (map.TryGetValue(key, out var set) && set.Remove(waker) && set.Count == 0)
                map.Remove(key);
        }
    }

    sealed class Subscription<TKey>(StreamSignals signals, Dictionary<TKey, HashSet<StreamWaker>> map, TKey key, StreamWaker waker) : IDisposable
        where TKey : notnull
    {
        public void Dispose() => signals.Unwatch(map, key, waker);
    }
}
