using Platform.Testing;

namespace Platform.Drills.Tests;

/// <summary>
/// A task whose executor throws an ordinary exception (<c>simulate.fail: "crash"</c>, as a bug would): the worker's
/// consumer faults, the message lands in <c>execute-task_error</c>, and the orchestrator's Fault&lt;ExecuteTask&gt;
/// consumer ends the task failed, so its batch does not wait forever. The crashing task is one a worker was handed over
/// (a starter user's three slots run six tasks): the faulted ExecuteTask names the slot's first task, and the fault
/// consumer must end the task that carries its lease.
/// </summary>
[TestFixture]
public sealed class When_an_execute_task_cannot_be_processed
{
    const int TaskCount = 6;
    const int Crashing = 4;

    PlatformCluster _cluster = null!;
    HttpClient _management = null!;

    [OneTimeSetUp]
    public async Task RunABatchWithATaskThatCrashesItsConsumer()
    {
        _cluster = await PlatformCluster.Start(nameof(When_an_execute_task_cannot_be_processed), orchestrators: 1, workers: 1);
        _management = await LocalInfrastructure.ManagementClient();
        using var user = await _cluster.CreateUser("fault-user", "starter");
        await PlatformCluster.SubmitBatch(user, "one task crashes its consumer", Enumerable.Range(0, TaskCount).Select(i => i == Crashing
            ? (object)new { company = $"Company {i}", simulate = new { durationMs = 100, fail = "crash" } }
            : new { company = $"Company {i}", simulate = new { durationMs = 100 } }));
        await Drill.WaitForBatchesToFinish(_cluster, TimeSpan.FromSeconds(60));
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _management?.Dispose();
        await _cluster.DisposeAsync();
    }

    [Test]
    public async Task Should_put_the_message_in_the_error_queue()
    {
        var inError = await Poll.Until(() => Drill.QueueDepth(_management, _cluster, "execute-task_error"), n => n >= 1,
            TimeSpan.FromSeconds(30), "the faulted ExecuteTask to show in execute-task_error");
        var messages = await Drill.TakeMessages(_management, _cluster, "execute-task_error");
        Drill.Print($"execute-task_error holds {inError} message(s); first: {messages.FirstOrDefault()?["payload"]?.ToString()[..Math.Min(200, messages.FirstOrDefault()?["payload"]?.ToString().Length ?? 0)]}");

        Assert.Multiple(() =>
        {
            Assert.That(messages, Has.Count.EqualTo(1), "exactly the crashing task's ExecuteTask");
            Assert.That(messages.Single()["payload"]!.ToString(), Does.Contain("ExecuteTask"));
        });
    }

    [Test]
    public async Task Should_fail_the_task_once_with_a_readable_error()
    {
        var tasks = await Drill.Tasks(_cluster);
        var crashed = tasks[Crashing];
        Drill.Print($"crashing task: {crashed.Status} after {crashed.Attempts} attempt(s), error: {crashed.Error}");
        Drill.Print($"other tasks: {tasks.Count(t => t.Status == "completed")} completed");

        Assert.Multiple(() =>
        {
            Assert.That(crashed.HandedOver, Is.True, "it ran under an earlier task's ExecuteTask");
            Assert.That(crashed.Status, Is.EqualTo("failed"));
            Assert.That(crashed.Error, Does.Contain("simulated crash"), "the error names what went wrong");
            Assert.That(crashed.Attempts, Is.EqualTo(1), "a crash is not re-run inside the delivery");
            Assert.That(crashed.HasResult, Is.False);
            Assert.That(tasks.Where((_, i) => i != Crashing).Select(t => t.Status), Is.All.EqualTo("completed"));
        });
    }

    [Test]
    public async Task Should_finish_the_batch_with_failures_and_keep_the_books()
    {
        var state = await _cluster.Scalar<string>("SELECT current_state FROM batch_states");
        var report = await Invariants.AssertNothingLostNothingTwice(_cluster, TimeSpan.FromSeconds(30));

        Assert.Multiple(() =>
        {
            Assert.That(state, Is.EqualTo("CompletedWithFailures"));
            Assert.That(report.Failed, Is.EqualTo(1));
            Assert.That(report.Completed, Is.EqualTo(TaskCount - 1));
        });
    }
}
