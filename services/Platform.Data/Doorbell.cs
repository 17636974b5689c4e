namespace Platform.Data;

/// <summary>
/// A wake-up, not a message: any number of rings between two waits make one wake-up, after which the waiter looks again
/// at what it watches (the outbox table, a batch's rows, the ends to tell).
/// </summary>
public sealed class Doorbell : IDisposable
{
    readonly SemaphoreSlim _rung = new(0, 1);

    public void Ring()
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
            // Its waiter is gone (a stream that ended while a message for it was being handled).
        }
    }

    /// <summary>True when rung, false when <paramref name="timeout"/> passed first.</summary>
    public Task<bool> Wait(TimeSpan timeout, CancellationToken cancellationToken) => _rung.WaitAsync(timeout, cancellationToken);

    public Task Wait(CancellationToken cancellationToken) => _rung.WaitAsync(cancellationToken);

    public void Dispose() => _rung.Dispose();
}
