using MassTransit;
using MassTransit.Logging;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Platform.Contracts;
using Platform.Data.Model;
using Platform.Data.Sagas;
using Platform.Orchestrator.StateMachines;

namespace Platform.Orchestrator.Tests.StateMachines;

/// <summary>
/// One in-memory bus per scenario with the batch saga exactly as the orchestrator configures it (its definition:
/// retry, partitioner, in-memory outbox), an in-memory saga repository and an <see cref="InMemoryTaskLedger"/>.
/// </summary>
public sealed class BatchSagaHarness : IAsyncDisposable
{
    readonly ServiceProvider _provider;

    BatchSagaHarness(ServiceProvider provider, InMemoryTaskLedger ledger)
    {
        _provider = provider;
        Ledger = ledger;
        Harness = provider.GetTestHarness();
        Saga = Harness.GetSagaStateMachineHarness<BatchStateMachine, BatchState>();
    }

    public ITestHarness Harness { get; }
    public ISagaStateMachineTestHarness<BatchStateMachine, BatchState> Saga { get; }
    public InMemoryTaskLedger Ledger { get; }
    public BatchStateMachine Machine => Saga.StateMachine;

    public static async Task<BatchSagaHarness> Start()
    {
        var ledger = new InMemoryTaskLedger();
        var provider = new ServiceCollection()
            .AddSingleton<ITaskLedger>(ledger)
            .AddMassTransitTestHarness(x =>
            {
                // Waits for something that should happen give up after 10 s rather than the harness's 30 s default,
                // so a broken scenario fails fast; waits for something that should not happen end at inactivity.
                x.SetTestTimeouts(testTimeout: TimeSpan.FromSeconds(10));
                x.AddSagaStateMachine<BatchStateMachine, BatchState>(typeof(BatchStateDefinition)).InMemoryRepository();
            })
            // The harness logs every send and receive at Debug; a failing scenario's own assertions say more.
            .Configure<TextWriterLoggerOptions>(o => o.LogLevel = LogLevel.Warning)
            .BuildServiceProvider(validateScopes: true);

        var harness = new BatchSagaHarness(provider, ledger);
        await harness.Harness.Start();
        return harness;
    }

    /// <summary>
    /// Publishes an event and returns once the saga has consumed it without a fault, so a scenario's events are seen in
    /// the order the scenario lists them (the bus alone would not promise that).
    /// </summary>
    public async Task Deliver<T>(T message)
        where T : class
    {
        // A terminal task event follows the worker's write of the task's row.
        switch (message)
        {
            case TaskCompleted m: Ledger.Reported(m.TaskId, m.BatchId, TaskStatuses.Completed); break;
            case TaskFailed m: Ledger.Reported(m.TaskId, m.BatchId, TaskStatuses.Failed); break;
            case TaskCancelled m: Ledger.Reported(m.TaskId, m.BatchId, TaskStatuses.Cancelled); break;
        }

        var messageId = NewId.NextGuid();
        await Harness.Bus.Publish(message, c => c.MessageId = messageId);

        var consumed = await Saga.Consumed.SelectAsync<T>(m => m.Context.MessageId == messageId && m.Exception is null).FirstOrDefault();
        if (consumed is null)
            Assert.Fail($"The saga did not consume {typeof(T).Name} {message} without a fault within {Harness.TestTimeout.TotalSeconds:F0} s.");
    }

    /// <summary>Delivers <see cref="BatchSubmitted"/> for a new batch of <paramref name="total"/> tasks and returns its id.</summary>
    public async Task<Guid> SubmitBatch(int total, string userId = "user-1")
    {
        var batchId = NewId.NextGuid();
        await Deliver(new BatchSubmitted(batchId, userId, "companies", total, DateTimeOffset.UtcNow));
        return batchId;
    }

    /// <summary>Waits until the batch's saga is in <paramref name="state"/> and returns it; fails naming the state it is in instead.</summary>
    public async Task<BatchState> InState(Guid batchId, Func<BatchStateMachine, State> state)
    {
        if (await Saga.Exists(batchId, state) is null)
        {
            var current = Saga.Sagas.Contains(batchId)?.CurrentState ?? "(no saga)";
            Assert.Fail($"Batch {batchId} did not reach {state(Machine).Name} within {Harness.TestTimeout.TotalSeconds:F0} s; it is {current}.");
        }

        return Saga.Sagas.Contains(batchId)!;
    }

    /// <summary>Every message of type <typeparamref name="T"/> published for the batch, once the bus has gone quiet.</summary>
    public async Task<List<T>> PublishedFor<T>(Guid batchId, Func<T, Guid> batchIdOf)
        where T : class
    {
        var messages = new List<T>();
        await foreach (var published in Harness.Published.SelectAsync<T>(m => batchIdOf(m.Context.Message) == batchId))
            messages.Add(published.Context.Message);
        return messages;
    }

    public async ValueTask DisposeAsync()
    {
        await Harness.Stop();
        await _provider.DisposeAsync();
    }
}
