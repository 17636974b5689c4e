namespace Platform.Testing;

/// <summary>A task's hold on a slot, read from its row: from dispatch (or start) to its terminal state.</summary>
public sealed record Interval(Guid TaskId, Guid BatchId, DateTimeOffset From, DateTimeOffset To);

/// <summary>Facts measured from task rows' timestamps: how many tasks were in flight together, and when.</summary>
public static class Timeline
{
    /// <summary>The most intervals open at one instant, and the first instant that many were open (half-open intervals).</summary>
    public static (int Peak, DateTimeOffset? At) PeakOverlap(IEnumerable<Interval> intervals)
    {
        var peak = 0;
        DateTimeOffset? at = null;
        var open = 0;
        // At equal times an end sorts before a start: a slot freed and refilled in the same tick is not an overlap.
        foreach (var (time, delta) in Edges(intervals))
        {
            open += delta;
            if (open > peak)
            {
                peak = open;
                at = time;
            }
        }

        return (peak, at);
    }

    /// <summary>The first instant at or after <paramref name="from"/> when at least <paramref name="count"/> intervals were open.</summary>
    public static DateTimeOffset? FirstReaching(IEnumerable<Interval> intervals, int count, DateTimeOffset from)
    {
        var open = 0;
        foreach (var (time, delta) in Edges(intervals))
        {
            open += delta;
            if (open >= count && time >= from)
                return time;
        }

        return null;
    }

    /// <summary>How many intervals were open at the instant <paramref name="time"/>.</summary>
    public static int OpenAt(IEnumerable<Interval> intervals, DateTimeOffset time) =>
        intervals.Count(i => i.From <= time && time < i.To);

    /// <summary>How many intervals were open on average over [<paramref name="from"/>, <paramref name="to"/>): time-weighted.</summary>
    public static double MeanOpen(IEnumerable<Interval> intervals, DateTimeOffset from, DateTimeOffset to) =>
        intervals.Sum(i => Math.Max(0, ((i.To < to ? i.To : to) - (i.From > from ? i.From : from)).TotalSeconds)) / (to - from).TotalSeconds;

    static IEnumerable<(DateTimeOffset Time, int Delta)> Edges(IEnumerable<Interval> intervals) =>
        intervals.SelectMany(i => new[] { (i.From, 1), (i.To, -1) }).OrderBy(e => e.Item1).ThenBy(e => e.Item2);
}
