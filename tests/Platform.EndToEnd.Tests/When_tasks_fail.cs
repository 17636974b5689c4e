using Platform.Testing;

namespace Platform.EndToEnd.Tests;

/// <summary>
/// Transient failures retry with backoff up to the configured count, the wait living in the task row (not_before) and
/// holding no slot; permanent failures end the task at once; the batch carries on and ends completed_with_failures.
/// </summary>
[TestFixture]
public sealed class When_tasks_fail
{
    const int MaxAttempts = 3;
    static readonly TimeSpan BaseDelay = TimeSpan.FromMilliseconds(400);

    PlatformCluster _cluster = null!;
    Guid _batchId;

    [OneTimeSetUp]
    public async Task SubmitAndWait()
    {
        _cluster = await PlatformCluster.Start(nameof(When_tasks_fail), orchestrators: 1, workers: 2, settings: new Dictionary<string, string>
        {
            ["Platform__Worker__MaxAttempts"] = MaxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Platform__Worker__RetryBaseDelay"] = BaseDelay.ToString(),
        });
        using var user = await _cluster.CreateUser("failing-user", "starter");
        _batchId = await PlatformCluster.SubmitBatch(user, "some fail", [
            new { company = "recovers", simulate = new { durationMs = 100, fail = "transient", failTimes = 2 } },
            new { company = "gives up", simulate = new { durationMs = 100, fail = "transient" } },
            new { company = "permanent", simulate = new { durationMs = 100, fail = "permanent" } },
            new { company = "fine 1", simulate = new { durationMs = 100 } },
            new { company = "fine 2", simulate = new { durationMs = 100 } },
        ]);
        await Poll.Until(async () => (await PlatformCluster.GetJson(user, $"/v1/batches/{_batchId}"))["status"]!.GetValue<string>(),
            status => status is "completed" or "completed_with_failures", TimeSpan.FromSeconds(60), "the batch to finish");
    }

    [OneTimeTearDown]
    public Task Stop() => _cluster.DisposeAsync().AsTask();

    [Test]
    public async Task Should_retry_transient_failures_up_to_the_limit_and_fail_permanent_ones_at_once()
    {
        var rows = (await _cluster.Query("""
                SELECT input->>'company', status, attempts, error, not_before, started_at
                FROM tasks WHERE batch_id = $1
                """,
            r => (Company: r.GetString(0), Status: r.GetString(1), Attempts: r.GetInt32(2), Error: r.IsDBNull(3) ? null : r.GetString(3),
                NotBefore: r.IsDBNull(4) ? (DateTimeOffset?)null : r.GetFieldValue<DateTimeOffset>(4), Started: r.GetFieldValue<DateTimeOffset>(5)),
            _batchId)).ToDictionary(r => r.Company);
        foreach (var row in rows.Values)
            TestContext.Out.WriteLine($"{row.Company}: {row.Status} after {row.Attempts} attempt(s); last started {(row.Started - row.NotBefore)?.TotalMilliseconds:0} ms after its not_before; {row.Error}");

        Assert.Multiple(() =>
        {
            Assert.That((rows["recovers"].Status, rows["recovers"].Attempts), Is.EqualTo(("completed", 3)));
            Assert.That((rows["gives up"].Status, rows["gives up"].Attempts), Is.EqualTo(("failed", MaxAttempts)));
            Assert.That(rows["gives up"].Error, Does.Contain($"gave up after {MaxAttempts} attempts"));
            Assert.That((rows["permanent"].Status, rows["permanent"].Attempts), Is.EqualTo(("failed", 1)), "a permanent failure is not retried");
            Assert.That(rows["permanent"].Error, Does.Contain("permanent"));
            Assert.That(rows["fine 1"].Status, Is.EqualTo("completed"));
            // The wait lives in the row: a retried attempt never starts before its not_before.
            foreach (var retried in new[] { rows["recovers"], rows["gives up"] })
            {
                Assert.That(retried.NotBefore, Is.Not.Null, $"{retried.Company} waited for no retry time");
                Assert.That(retried.Started, Is.GreaterThanOrEqualTo(retried.NotBefore ?? DateTimeOffset.MaxValue), $"{retried.Company} started before its retry time");
            }
        });
    }

    [Test]
    public async Task Should_finish_the_batch_with_failures_and_keep_the_books()
    {
        var report = await Invariants.AssertNothingLostNothingTwice(_cluster, TimeSpan.FromSeconds(30));
        TestContext.Out.WriteLine(report);
        var state = await _cluster.Scalar<string>("SELECT current_state FROM batch_states WHERE correlation_id = $1", _batchId);
        Assert.That(state, Is.EqualTo("CompletedWithFailures"));
    }
}
