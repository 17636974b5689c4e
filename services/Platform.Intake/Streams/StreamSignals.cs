using Platform.Data;

namespace Platform.Intake.Streams;

/// <summary>Who is watching which batch and which user's queue in this intake instance, so that a message wakes only them.</summary>
public sealed class StreamSignals
{
    readonly Lock _gate = new();
    readonly Dictionary<Guid, HashSet<Doorbell>> _batches = [];
    readonly Dictionary<string, HashSet<Doorbell>> _users = new(StringComparer.Ordinal);
    // The admin's fleet stream: any change anywhere may move the fleet's figures.
    readonly Dictionary<bool, HashSet<Doorbell>> _all = [];

    public int Watching
    {
        get
        {
            lock (_gate)
                return _batches.Values.Sum(s => s.Count) + _users.Values.Sum(s => s.Count) + _all.Values.Sum(s => s.Count);
        }
    }

    public IDisposable WatchBatch(Guid batchId, Doorbell waker) => Watch(_batches, batchId, waker);

    public IDisposable WatchUser(string userId, Doorbell waker) => Watch(_users, userId, waker);

    public IDisposable WatchAll(Doorbell waker) => Watch(_all, true, waker);

    /// <summary>Something about <paramref name="batchId"/> of <paramref name="userId"/> changed (either may be null).</summary>
    public void Wake(Guid? batchId, string? userId)
    {
        List<Doorbell> wake = [];
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
            waker.Ring();
    }

    Subscription<TKey> Watch<TKey>(Dictionary<TKey, HashSet<Doorbell>> map, TKey key, Doorbell waker) where TKey : notnull
    {
        lock (_gate)
        {
            if (!map.TryGetValue(key, out var set))
                map[key] = set = [];
            set.Add(waker);
        }

        return new Subscription<TKey>(this, map, key, waker);
    }

    void Unwatch<TKey>(Dictionary<TKey, HashSet<Doorbell>> map, TKey key, Doorbell waker) where TKey : notnull
    {
        lock (_gate)
        {
            if (map.TryGetValue(key, out var set) && set.Remove(waker) && set.Count == 0)
                map.Remove(key);
        }
    }

    sealed class Subscription<TKey>(StreamSignals signals, Dictionary<TKey, HashSet<Doorbell>> map, TKey key, Doorbell waker) : IDisposable
        where TKey : notnull
    {
        public void Dispose() => signals.Unwatch(map, key, waker);
    }
}
