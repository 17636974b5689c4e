using System.Globalization;

namespace Platform.Testing;

/// <summary>What <see cref="Invariants.AssertNothingLostNothingTwice"/> found, for a drill's own assertions and printout.</summary>
public sealed record InvariantReport(
    int Tasks,
    int Completed,
    int Failed,
    int Cancelled,
    int Batches,
    int Reexecuted,
    int MaxAttempts,
    int Workers,
    TimeSpan Settled)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Tasks} tasks in {Batches} batch(es): {Completed} completed, {Failed} failed, {Cancelled} cancelled; " +
        $"{Reexecuted} ran more than once (max attempts {MaxAttempts}) on {Workers} worker(s); settled {Settled.TotalSeconds:F1} s after the check began");
}

/// <summary>
/// Invariant 5, "nothing lost, nothing twice", checked from the rows of a cluster's database (every batch and user in
/// it): each accepted task reached exactly one terminal state and was counted once; each batch's saga counters and
/// state equal its task rows; each user's usage equals their completed tasks and nothing stays reserved; the outbox
/// drained. Waits (with a deadline) for the platform to settle first, then asserts and prints what it found.
/// </summary>
public static class Invariants
{
    public static async Task<InvariantReport> AssertNothingLostNothingTwice(PlatformCluster cluster, TimeSpan timeout)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        Snapshot snapshot;
        while (true)
        {
            snapshot = await Read(cluster);
            if (snapshot.Settled || watch.Elapsed > timeout)
                break;
            await Task.Delay(250);
        }

        var settled = watch.Elapsed;
        var report = new InvariantReport(
            snapshot.Tasks.Count,
            snapshot.Tasks.Count(t => t.Status == "completed"),
            snapshot.Tasks.Count(t => t.Status == "failed"),
            snapshot.Tasks.Count(t => t.Status == "cancelled"),
            snapshot.Batches.Count,
            snapshot.Tasks.Count(t => t.Attempts > 1),
            snapshot.Tasks.Count == 0 ? 0 : snapshot.Tasks.Max(t => t.Attempts),
            snapshot.Tasks.Select(t => t.Worker).Where(w => w is not null).Distinct().Count(),
            settled);
        TestContext.Out.WriteLine($"Invariants: {report}");

        var problems = Problems(snapshot);
        foreach (var problem in problems.Take(20))
            TestContext.Out.WriteLine($"  violated: {problem}");
        Assert.That(problems, Is.Empty,
            $"invariant 5 (nothing lost, nothing twice) after {settled.TotalSeconds:F0} s; first problems:\n{string.Join('\n', problems.Take(20))}\n\n{cluster.Logs()}");
        return report;
    }

    static List<string> Problems(Snapshot s)
    {
        var problems = new List<string>();
        foreach (var t in s.Tasks)
        {
            if (t.Status is not ("completed" or "failed" or "cancelled"))
                problems.Add($"task {t.TaskId} ({t.Key}) is {t.Status}, not terminal (attempts {t.Attempts})");
            else if (!t.Counted)
                problems.Add($"task {t.TaskId} ({t.Key}) is {t.Status} but the batch saga never counted it");
            if (t.Status == "completed" && (!t.HasResult || t.FinishedAt is null))
                problems.Add($"task {t.TaskId} ({t.Key}) is completed without a result or finish time");
            if (t.Status == "failed" && (!t.HasError || t.FinishedAt is null))
                problems.Add($"task {t.TaskId} ({t.Key}) is failed without an error or finish time");
        }

        foreach (var b in s.Batches)
        {
            var rows = s.Tasks.Where(t => t.BatchId == b.BatchId).ToList();
            var completed = rows.Count(t => t.Status == "completed");
            var failed = rows.Count(t => t.Status == "failed");
            var cancelled = rows.Count(t => t.Status == "cancelled");
            var expectedState = cancelled > 0 ? "Cancelled" : failed > 0 ? "CompletedWithFailures" : "Completed";
            if (b.State is null)
            {
                problems.Add($"batch {b.BatchId} has no saga row");
                continue;
            }

            if (b.Total != rows.Count || b.SagaTotal != rows.Count)
                problems.Add($"batch {b.BatchId}: total {b.Total} (saga {b.SagaTotal}) but {rows.Count} task rows");
            if (b.Completed != completed || b.Failed != failed || b.Cancelled != cancelled)
                problems.Add($"batch {b.BatchId}: saga counts {b.Completed}/{b.Failed}/{b.Cancelled} (completed/failed/cancelled) but rows say {completed}/{failed}/{cancelled}");
            if (b.State != expectedState || !b.Finished)
                problems.Add($"batch {b.BatchId}: saga state {b.State} (finished: {b.Finished}) but rows say {expectedState}");
        }

        foreach (var u in s.Users)
        {
            var completed = s.Tasks.Count(t => t.UserId == u.UserId && t.Status == "completed");
            if (u.Used != completed)
                problems.Add($"user {u.UserId}: used_this_month {u.Used} but {completed} completed tasks");
            if (u.Reserved != 0)
                problems.Add($"user {u.UserId}: {u.Reserved} still reserved");
            var tokens = (Prompt: s.Tasks.Where(t => t.UserId == u.UserId && t.Status == "completed").Sum(t => t.PromptTokens),
                Completion: s.Tasks.Where(t => t.UserId == u.UserId && t.Status == "completed").Sum(t => t.CompletionTokens));
            if ((u.PromptTokens, u.CompletionTokens) != tokens)
                problems.Add($"user {u.UserId}: {u.PromptTokens}+{u.CompletionTokens} tokens this month but its completed tasks say {tokens.Prompt}+{tokens.Completion}");
        }

        // Only a completed attempt records what the provider counted: a failed or cancelled task uses no tokens of the month.
        foreach (var t in s.Tasks.Where(t => t.Status != "completed" && (t.PromptTokens != 0 || t.CompletionTokens != 0)))
            problems.Add($"task {t.Key} ({t.TaskId}) is {t.Status} but records {t.PromptTokens}+{t.CompletionTokens} tokens");

        if (s.Outbox > 0)
            problems.Add($"{s.Outbox} outbox message(s) never published");
        return problems;
    }

    static async Task<Snapshot> Read(PlatformCluster cluster)
    {
        var tasks = await cluster.Query("""
            SELECT task_id, batch_id, user_id, key, status, attempts, counted, result IS NOT NULL, error IS NOT NULL, finished_at, worker,
              COALESCE(prompt_tokens, 0)::bigint, COALESCE(completion_tokens, 0)::bigint
            FROM tasks
            """,
            r => new TaskRow(r.GetGuid(0), r.GetGuid(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetInt32(5), r.GetBoolean(6),
                r.GetBoolean(7), r.GetBoolean(8), r.IsDBNull(9) ? null : r.GetFieldValue<DateTimeOffset>(9), r.IsDBNull(10) ? null : r.GetString(10),
                r.GetInt64(11), r.GetInt64(12)));
        var batches = await cluster.Query("""
            SELECT b.batch_id, b.total, s.current_state, s.total, s.completed, s.failed, s.cancelled, s.finished_at IS NOT NULL
            FROM batches b LEFT JOIN batch_states s ON s.correlation_id = b.batch_id
            """,
            r => new BatchRow(r.GetGuid(0), r.GetInt32(1), r.IsDBNull(2) ? null : r.GetString(2), r.IsDBNull(3) ? 0 : r.GetInt32(3),
                r.IsDBNull(4) ? 0 : r.GetInt32(4), r.IsDBNull(5) ? 0 : r.GetInt32(5), r.IsDBNull(6) ? 0 : r.GetInt32(6), r.GetBoolean(7)));
        var users = await cluster.Query("SELECT user_id, used_this_month, reserved, prompt_tokens_this_month, completion_tokens_this_month FROM users",
            r => new UserRow(r.GetString(0), r.GetInt32(1), r.GetInt32(2), r.GetInt64(3), r.GetInt64(4)));
        var outbox = await cluster.Scalar<long>("SELECT count(*) FROM outbox_messages");
        return new Snapshot(tasks, batches, users, (int)outbox);
    }

    sealed record TaskRow(Guid TaskId, Guid BatchId, string UserId, string Key, string Status, int Attempts, bool Counted, bool HasResult,
        bool HasError, DateTimeOffset? FinishedAt, string? Worker, long PromptTokens, long CompletionTokens);

    sealed record BatchRow(Guid BatchId, int Total, string? State, int SagaTotal, int Completed, int Failed, int Cancelled, bool Finished);

    sealed record UserRow(string UserId, int Used, int Reserved, long PromptTokens, long CompletionTokens);

    sealed record Snapshot(List<TaskRow> Tasks, List<BatchRow> Batches, List<UserRow> Users, int Outbox)
    {
        public bool Settled => Problems(this).Count == 0;
    }
}
