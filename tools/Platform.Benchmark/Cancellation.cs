using System.Diagnostics;
using System.Globalization;
using Platform.Testing;
using static Platform.Benchmark.Measure;

namespace Platform.Benchmark;

/// <summary>
/// Big cancellations stay local (issue 17): while another user's 10,000-task batch is cancelled, a steady user's
/// throughput stays ≥ 80% of what it was. User A runs short tasks steadily on fewer slots than the fleet has (its own
/// tier's limit, so that its rate can only fall, not rise into slots B frees); user B submits 10,000 tasks of which one
/// runs (its tier has one slot) and the rest wait, then cancels the batch (DELETE). From the task rows: A's tasks/s in
/// a window before the DELETE, and from the DELETE until B's saga is <c>Cancelled</c> plus a few seconds (a window at
/// least), and in the first window after the DELETE on its own; the ratio
/// (target ≥ 0.80), A's worst second in each window, the DELETE's answer time, when the saga showed cancelled, and the
/// largest outbox backlog seen meanwhile. Reuses the database and vhost "bench-cancellation".
/// </summary>
public static class Cancellation
{
    const int Workers = 2;
    const int Capacity = 8;
    const int SteadySlots = Workers * Capacity - 1; // the fleet but B's one slot: busy, and A never uses the slot B frees
    const int SteadyTaskMs = 600;                   // ideal: 15 / 0.6 s = 25 tasks/s, below what 2 shared cores sustain
    const int SteadyBatch = 5000;

    static readonly Dictionary<string, string> Settings = new()
    {
        ["Platform__Worker__Capacity"] = Capacity.ToString(CultureInfo.InvariantCulture),
        ["Platform__RateLimit__PermitLimit"] = "1000000",
        // Two tiers of the benchmark's own: A's slots below the fleet's, B's one slot and no monthly quota for 10,000 tasks.
        ["Platform__Tiers__steady__Concurrency"] = SteadySlots.ToString(CultureInfo.InvariantCulture),
        ["Platform__Tiers__bulk__Concurrency"] = "1",
    };

    public static async Task Run(int bulkTasks, TimeSpan window, TimeSpan after)
    {
        await using var cluster = await PlatformCluster.Start("bench-cancellation", orchestrators: 1, workers: Workers, settings: Settings);
        using var steady = await cluster.CreateUser("steady-a", "steady");
        using var bulk = await cluster.CreateUser("bulk-b", "bulk");

        // A's backlog, far more than the run needs: it must never drain during a window.
        for (var i = 0; i < 4; i++)
            await PlatformCluster.SubmitBatch(steady, $"steady-{i}", Inputs(SteadyBatch, SteadyTaskMs));
        await Task.Delay(TimeSpan.FromSeconds(10)); // warm-up: A at its full rate, the services' hot paths compiled

        // B's batch: one task runs (ten minutes, so it holds its slot), the rest wait. Settled before the first window,
        // so that the windows measure the cancellation, not the submission.
        var submit = Stopwatch.StartNew();
        var batch = await PlatformCluster.SubmitBatch(bulk, "ten thousand", Inputs(bulkTasks, 600_000));
        var submitted = submit.Elapsed;
        await Poll.Until(() => cluster.Scalar<long>("SELECT count(*) FROM outbox_messages"), rows => rows < 200, TimeSpan.FromMinutes(5),
            "B's submission to be relayed", TimeSpan.FromMilliseconds(200));
        await Poll.Until(() => cluster.Scalar<long>("SELECT count(*) FROM tasks WHERE batch_id = $1 AND status = 'running'", batch), n => n == 1,
            TimeSpan.FromSeconds(60), "B's one task to run", TimeSpan.FromMilliseconds(200));
        await Task.Delay(window + TimeSpan.FromSeconds(3));
        Console.WriteLine($"[bench] cancellation: B submitted {bulkTasks:N0} tasks in {submitted.TotalSeconds:0.0} s and they settled; A steady on {SteadySlots} slots of {Workers * Capacity}");

        var beforeFrom = DateTimeOffset.UtcNow - window;
        var deleteAt = DateTimeOffset.UtcNow;
        var before = await Rate(cluster, beforeFrom, deleteAt);

        // Outbox backlog and saga state, sampled while the cancellation goes through.
        var peakOutbox = 0L;
        var delete = Stopwatch.StartNew();
        using (var response = await bulk.DeleteAsync($"/v1/batches/{batch}"))
            await PlatformCluster.EnsureSuccess(response);
        var answered = delete.Elapsed;
        TimeSpan? cancelledAfter = null;
        while (cancelledAfter is null && delete.Elapsed < TimeSpan.FromMinutes(10))
        {
            peakOutbox = Math.Max(peakOutbox, await cluster.Scalar<long>("SELECT count(*) FROM outbox_messages"));
            var state = (await cluster.Query("SELECT current_state FROM batch_states WHERE correlation_id = $1", r => r.GetString(0), batch)).SingleOrDefault();
            if (state == "Cancelled")
                cancelledAfter = delete.Elapsed;
            else
                await Task.Delay(TimeSpan.FromMilliseconds(100));
        }

        // At least a window's length after the DELETE, so that a fast cancellation is measured over as long as the before.
        var afterUntil = DateTimeOffset.UtcNow + after;
        if (afterUntil < deleteAt + window)
            afterUntil = deleteAt + window;
        while (DateTimeOffset.UtcNow < afterUntil)
        {
            peakOutbox = Math.Max(peakOutbox, await cluster.Scalar<long>("SELECT count(*) FROM outbox_messages"));
            await Task.Delay(TimeSpan.FromMilliseconds(250));
        }

        var during = await Rate(cluster, deleteAt, afterUntil);
        var first = await Rate(cluster, deleteAt, deleteAt + window);
        var counted = await cluster.Query("SELECT cancelled, completed FROM batch_states WHERE correlation_id = $1",
            r => (Cancelled: r.GetInt32(0), Completed: r.GetInt32(1)), batch);
        Console.WriteLine($"[bench] cancellation: A before the DELETE: {before.Rate:0.0} tasks/s over {before.Seconds:0.0} s (worst second {before.Worst}); " +
                          $"from the DELETE to {after.TotalSeconds:0} s after B's saga showed cancelled: {during.Rate:0.0} tasks/s over {during.Seconds:0.0} s (worst second {during.Worst})");
        Console.WriteLine($"[bench] cancellation: A's throughput while B's {bulkTasks:N0}-task batch was cancelled ÷ before = {during.Rate / before.Rate:0.00} (target ≥ 0.80); " +
                          $"in the first {window.TotalSeconds:0} s after the DELETE: {first.Rate:0.0} tasks/s ÷ before = {first.Rate / before.Rate:0.00} (worst second {first.Worst})");
        Console.WriteLine($"[bench] cancellation: DELETE answered in {answered.TotalMilliseconds:0} ms; B's saga showed cancelled after " +
                          $"{(cancelledAfter is { } c ? $"{c.TotalSeconds:0.00} s" : "more than 10 min")} " +
                          $"(counted {string.Join(", ", counted.Select(x => $"{x.Cancelled} cancelled, {x.Completed} completed"))}); outbox peak {peakOutbox:N0} rows");
    }

    /// <summary>A's tasks that finished in [from, to), per second over the window, and its worst whole second.</summary>
    static async Task<(double Rate, double Seconds, long Worst)> Rate(PlatformCluster cluster, DateTimeOffset from, DateTimeOffset to)
    {
        var seconds = await cluster.Query("""
            SELECT s.second, count(t.task_id)
            FROM generate_series(0, floor(extract(epoch FROM $2::timestamptz - $1::timestamptz))::int - 1) AS s(second)
            LEFT JOIN tasks t ON t.user_id = 'steady-a' AND t.status = 'completed'
                 AND t.finished_at >= $1::timestamptz + s.second * interval '1 second'
                 AND t.finished_at < $1::timestamptz + (s.second + 1) * interval '1 second'
            GROUP BY s.second
            """, r => r.GetInt64(1), from, to);
        var total = await cluster.Scalar<long>("""
            SELECT count(*) FROM tasks WHERE user_id = 'steady-a' AND status = 'completed' AND finished_at >= $1 AND finished_at < $2
            """, from, to);
        var span = (to - from).TotalSeconds;
        return (total / span, span, seconds.Count == 0 ? total : seconds.Min());
    }
}
