using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Drills.Tests;

/// <summary>
/// RabbitMQ, then PostgreSQL, stopped for a few seconds mid-batch on a dedicated pair (nobody else's tests use it): the
/// services reconnect on their own and the batch finishes with the books right. Recovery is measured from the server
/// being back to the first task started after it, and to the first such task completed.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class When_a_server_restarts_mid_batch
{
    static readonly TimeSpan Down = TimeSpan.FromSeconds(3);

    LocalServers _pair = null!;

    [OneTimeSetUp]
    public async Task StartTheDedicatedPair()
    {
        _pair = LocalServers.Dedicated("drills", 56432, 56672);
        await _pair.Start();
    }

    [OneTimeTearDown]
    public Task StopTheDedicatedPair() => _pair.Stop();

    [TestCase("rabbitmq", 100)]
    [TestCase("postgres", 100)]
    public async Task Should_recover_on_its_own_and_keep_the_books(string server, int taskCount)
    {
        await using var cluster = await PlatformCluster.Start($"restart_{server}", orchestrators: 1, workers: 2, servers: _pair);
        using var user = await cluster.CreateUser("restart-user", "pro");
        await PlatformCluster.SubmitBatch(user, $"{taskCount} companies", Drill.Inputs(taskCount, Drill.Between(800, 1200)));
        await Drill.WaitForTasks(cluster, "status = 'completed'", 10, TimeSpan.FromSeconds(60), "10 completed tasks");

        // Stopping a server can take most of a minute on a busy machine while it keeps serving, long enough for the batch
        // to finish first: small batches submitted all along (refused while PostgreSQL is down) keep work waiting across
        // the restart whatever the timing.
        using var stopping = new CancellationTokenSource();
        var feeder = Feed(user, stopping.Token);
        var stoppedAt = DateTimeOffset.UtcNow;
        await _pair.Stop(server);
        var stopped = DateTimeOffset.UtcNow - stoppedAt;
        await Task.Delay(Down);
        await _pair.Up();
        await stopping.CancelAsync();
        var fed = await feeder;
        // The drill's own pooled connections died with the server too.
        Npgsql.NpgsqlConnection.ClearAllPools();
        var backAt = await BackSince(cluster, server);
        Drill.Print($"{server} stop began {stoppedAt:HH:mm:ss.fff} and took {Drill.Seconds(stopped)}; down {Drill.Seconds(Down)} more; the server has accepted connections since {backAt:HH:mm:ss.fff}; {fed} small batch(es) accepted meanwhile");

        await Drill.WaitForTasks(cluster, "started_at > $1", 1, TimeSpan.FromSeconds(90), $"a task to start after {server} came back", backAt);
        var firstStart = await cluster.Scalar<DateTimeOffset>("SELECT min(started_at) FROM tasks WHERE started_at > $1", backAt);
        await Drill.WaitForTasks(cluster, "started_at > $1 AND status = 'completed'", 1, TimeSpan.FromSeconds(90), "such a task to complete", backAt);
        var firstDone = await cluster.Scalar<DateTimeOffset>("SELECT min(finished_at) FROM tasks WHERE started_at > $1 AND status = 'completed'", backAt);
        Drill.Print($"recovery: first task started {Drill.Seconds(firstStart - backAt)} after {server} was back, first such task completed {Drill.Seconds(firstDone - backAt)} after");

        await Drill.WaitForBatchesToFinish(cluster, TimeSpan.FromSeconds(120));
        var tasks = await Drill.Tasks(cluster);
        Drill.Print($"batch finished at {tasks.Max(t => t.FinishedAt):HH:mm:ss.fff}; {tasks.Count(t => t.Attempts > 1)} task(s) ran more than once");

        var report = await Invariants.AssertNothingLostNothingTwice(cluster, TimeSpan.FromSeconds(90));
        // A submission that timed out on our side may still have been accepted: count the rows, not our tally.
        Assert.That((report.Failed, report.Completed), Is.EqualTo((0, report.Tasks)), "a server restart fails no task");
        Assert.That(report.Tasks, Is.GreaterThanOrEqualTo(taskCount + fed * FeedSize));
    }

    const int FeedSize = 5;

    /// <summary>Submits a small batch every 2 s until cancelled; returns how many were accepted.</summary>
    static async Task<int> Feed(HttpClient user, CancellationToken cancellationToken)
    {
        var accepted = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await PlatformCluster.SubmitBatch(user, $"fed {accepted}", Drill.Inputs(FeedSize, _ => 1000));
                accepted++;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                // Intake cannot accept while PostgreSQL is down: that is the drill, not a failure.
            }

            try
            {
                await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return accepted;
    }

    /// <summary>When the restarted server began to serve, by its own account (local.sh up returns later, after its own checks).</summary>
    async Task<DateTimeOffset> BackSince(PlatformCluster cluster, string server)
    {
        if (server == "postgres")
            return await cluster.Scalar<DateTimeOffset>("SELECT pg_postmaster_start_time()");

        using var management = await _pair.ManagementClient();
        // The node's figures appear with its first statistics round, a few seconds after start.
        var uptime = await Poll.Until(async () => (await management.GetFromJsonAsync<List<JsonObject>>("/api/nodes"))!.Single()["uptime"]?.GetValue<long>(),
            ms => ms is not null, TimeSpan.FromSeconds(30), "RabbitMQ's uptime", TimeSpan.FromMilliseconds(200));
        return DateTimeOffset.UtcNow - TimeSpan.FromMilliseconds(uptime!.Value);
    }
}
