using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Drills.Tests;

/// <summary>
/// A three-node RabbitMQ cluster (<c>infra/local.sh cluster</c>, quorum queues): kill -9 of the node the services are
/// connected to, mid-batch; the work goes on on the other two; the node is started again and rejoins; then the same to
/// the node the services moved to. Every task ends exactly once and the books agree. Prints the recovery times: kill →
/// first task finished that was dispatched after the kill, kill → throughput back to 80 % of the rate before it, restart
/// → the node running in the cluster again (docs/operations.md).
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class When_a_rabbitmq_cluster_node_is_killed
{
    const int TaskCount = 600;
    // A slower machine may get through the batch before the last round: another batch then keeps work waiting.
    const int TopUpBelow = 150;
    const int Rounds = 2;
    // Tasks finished after a kill before the node is started again: the work went on while two of three nodes were up.
    const int FinishedWhileDown = 10;
    static readonly TimeSpan RateWindow = TimeSpan.FromSeconds(5);

    sealed record Round(int Node, DateTimeOffset KilledAt, DateTimeOffset RestartedAt, DateTimeOffset RejoinedAt, long FinishedWhileDown);

    LocalServers _servers = null!;
    PlatformCluster _cluster = null!;
    readonly List<Round> _rounds = [];
    int _submitted;
    readonly List<string> _story = [];

    [OneTimeSetUp]
    public async Task KillTwoNodesMidBatch()
    {
        _servers = LocalServers.RabbitMqCluster();
        var upAt = DateTimeOffset.UtcNow;
        await _servers.Start();
        Drill.Tell(_story, $"cluster ready {Drill.Seconds(DateTimeOffset.UtcNow - upAt)} after 'local.sh cluster up' began (a no-op when it ran already)");

        // No hand-over of a slot to the user's next task: every task then gets an ExecuteTask of its own, so every task's
        // dispatch, start and completion crosses the cluster, not only the first of each slot.
        _cluster = await PlatformCluster.Start("cluster_node_kill", orchestrators: 1, workers: 2, servers: _servers,
            settings: new Dictionary<string, string> { ["Platform__Worker__MaxLeaseHold"] = "00:00:00" });
        using var user = await _cluster.CreateUser("cluster-kill-user", "pro");
        await Submit(user);
        await Drill.WaitForTasks(_cluster, "status = 'completed'", 50, TimeSpan.FromSeconds(60), "50 completed tasks");

        for (var round = 0; round < Rounds; round++)
        {
            if (await Unfinished() < TopUpBelow)
                await Submit(user);
            var node = await ConnectedNode();
            var killedAt = DateTimeOffset.UtcNow;
            var pid = await _servers.KillClusterNode(node);
            var left = await Unfinished();
            Drill.Tell(_story, $"kill -9 of node {node} (pid {pid}), which the services were connected to, at {killedAt:HH:mm:ss.fff}; {left} task(s) not finished yet");

            await Drill.WaitForTasks(_cluster, "finished_at > $1 AND dispatched_at > $1", FinishedWhileDown, TimeSpan.FromSeconds(90),
                $"{FinishedWhileDown} tasks dispatched and finished after the kill of node {node}", killedAt);
            var restartedAt = DateTimeOffset.UtcNow;
            var finished = await _cluster.Scalar<long>("SELECT count(*) FROM tasks WHERE finished_at > $1 AND finished_at < $2", killedAt, restartedAt);
            // Watched from a peer while local.sh starts it (the script returns later, after checks of its own).
            var up = _servers.Up();
            var rejoinedAt = await RejoinedAt(node);
            await up;
            Drill.Tell(_story, $"node {node} started again at {restartedAt:HH:mm:ss.fff} ({finished} task(s) had finished while it was down), running in the cluster {Drill.Seconds(rejoinedAt - restartedAt)} later; 'local.sh cluster up' returned after {Drill.Seconds(DateTimeOffset.UtcNow - restartedAt)}");
            _rounds.Add(new Round(node, killedAt, restartedAt, rejoinedAt, finished));
        }

        await Drill.WaitForBatchesToFinish(_cluster, TimeSpan.FromSeconds(180));
        var finishes = await _cluster.Query("SELECT finished_at FROM tasks WHERE finished_at IS NOT NULL ORDER BY finished_at",
            r => r.GetFieldValue<DateTimeOffset>(0));
        foreach (var r in _rounds)
            await TellRecovery(r, finishes);
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        if (_cluster is not null)
            await _cluster.DisposeAsync();
    }

    [Test]
    public void Should_go_on_working_while_two_of_three_nodes_are_up()
    {
        Drill.Retell(_story);
        Assert.That(_rounds.Select(r => r.FinishedWhileDown).ToList(), Has.Count.EqualTo(Rounds).And.All.GreaterThanOrEqualTo(FinishedWhileDown));
    }

    [Test]
    public void Should_kill_the_node_the_services_were_connected_to_each_time()
    {
        Drill.Retell(_story);
        // The second kill hit the node the services had moved to, not the one just restarted.
        Assert.That(_rounds.Select(r => r.Node).ToList(), Is.Unique.And.Count.EqualTo(Rounds));
    }

    [Test]
    public async Task Should_end_every_task_exactly_once_and_keep_the_books()
    {
        Drill.Retell(_story);
        var report = await Invariants.AssertNothingLostNothingTwice(_cluster, TimeSpan.FromSeconds(90));
        Assert.That((report.Tasks, report.Completed, report.Failed), Is.EqualTo((_submitted, _submitted, 0)), "losing a node fails no task");
    }

    async Task Submit(HttpClient user)
    {
        await PlatformCluster.SubmitBatch(user, $"{TaskCount} companies", Drill.Inputs(TaskCount, Drill.Between(400, 800)));
        _submitted += TaskCount;
        if (_submitted > TaskCount)
            Drill.Tell(_story, $"fewer than {TopUpBelow} tasks left before a round: another {TaskCount} submitted");
    }

    Task<long> Unfinished() => _cluster.Scalar<long>("SELECT count(*) FROM tasks WHERE finished_at IS NULL");

    /// <summary>
    /// The node (1-3) holding most of the services' bus connections, once all of them are connected to live nodes (after
    /// a kill they come back one by one, on the next node in their list).
    /// </summary>
    async Task<int> ConnectedNode()
    {
        var expected = _cluster.Services.Count;
        var vhost = Uri.UnescapeDataString(Drill.VirtualHost(_cluster));
        var nodes = await Poll.Until(async () =>
            {
                foreach (var index in Enumerable.Range(0, 3))
                {
                    try
                    {
                        using var management = await _servers.ManagementClient(index);
                        var connections = await management.GetFromJsonAsync<List<JsonObject>>("/api/connections");
                        return connections!
                            .Where(c => c["vhost"]?.GetValue<string>() == vhost
                                        && c["user_provided_name"]?.GetValue<string>() is { } name && name != "platform-error-queues")
                            .Select(c => c["node"]!.GetValue<string>())
                            .ToList();
                    }
                    catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                    {
                        // That node is the one down: ask the next.
                    }
                }

                return [];
            },
            n => n.Count == expected, TimeSpan.FromSeconds(60), $"the {expected} services' connections", TimeSpan.FromMilliseconds(250));
        var byNode = nodes.GroupBy(n => n).OrderByDescending(g => g.Count()).ToList();
        Drill.Tell(_story, $"services' connections: {string.Join(", ", byNode.Select(g => $"{g.Count()} on {g.Key}"))}");
        return NodeNumber(byNode[0].Key);
    }

    /// <summary>When a peer's management API first lists the node as running again.</summary>
    async Task<DateTimeOffset> RejoinedAt(int node)
    {
        using var management = await _servers.ManagementClient(node % 3);
        await Poll.Until(async () => (await management.GetFromJsonAsync<List<JsonObject>>("/api/nodes"))!
                .Any(n => NodeNumber(n["name"]!.GetValue<string>()) == node && n["running"]?.GetValue<bool>() == true),
            running => running, TimeSpan.FromSeconds(60), $"node {node} running in the cluster", TimeSpan.FromMilliseconds(200));
        return DateTimeOffset.UtcNow;
    }

    /// <summary>kill → first task dispatched after the kill to finish, and → throughput over 5 s back to 80 % of the 5 s before.</summary>
    async Task TellRecovery(Round round, List<DateTimeOffset> finishes)
    {
        var firstFinished = await _cluster.Scalar<DateTimeOffset>("SELECT min(finished_at) FROM tasks WHERE dispatched_at > $1", round.KilledAt);
        var before = finishes.Count(f => f > round.KilledAt - RateWindow && f <= round.KilledAt);
        // The first finish from which the 5 s behind it hold 80 % of the finishes of the 5 s before the kill.
        var back = finishes.Where(f => f >= round.KilledAt + RateWindow)
            .FirstOrDefault(t => finishes.Count(f => f > t - RateWindow && f <= t) >= before * 0.8);
        Drill.Tell(_story, $"node {round.Node}: first task dispatched after the kill finished {Drill.Seconds(firstFinished - round.KilledAt)} after it; throughput back to 80 % of the {before} tasks per 5 s before the kill {(back == default ? "not within the batch" : Drill.Seconds(back - round.KilledAt) + " after it")}; down {Drill.Seconds(round.RestartedAt - round.KilledAt)}, restart to running in the cluster {Drill.Seconds(round.RejoinedAt - round.RestartedAt)}");
    }

    static int NodeNumber(string name) => int.Parse(name["platform-".Length..name.IndexOf('@', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
}
