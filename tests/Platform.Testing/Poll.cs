using System.Diagnostics;

namespace Platform.Testing;

/// <summary>Waiting in tests: poll a condition until it holds or a deadline passes; never sleep a fixed time and hope.</summary>
public static class Poll
{
    public static async Task<T> Until<T>(Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout, string what,
        TimeSpan? interval = null)
    {
        var watch = Stopwatch.StartNew();
        T last;
        do
        {
            last = await probe();
            if (done(last))
                return last;
            await Task.Delay(interval ?? TimeSpan.FromMilliseconds(100));
        } while (watch.Elapsed < timeout);

        throw new TimeoutException($"Timed out after {timeout.TotalSeconds:F0} s waiting for {what}; last value: {last}");
    }

    public static Task Until(Func<Task<bool>> condition, TimeSpan timeout, string what, TimeSpan? interval = null) =>
        Until(condition, ok => ok, timeout, what, interval);
}
