using MassTransit;
using MassTransit.Logging;
using MassTransit.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Platform.Data.Sagas;
using Platform.Orchestrator.StateMachines;
using Platform.Testing;

namespace Platform.Data.Tests.Sagas;

/// <summary>
/// One in-memory bus per scenario whose saga persists through <see cref="EfSagaRepositoryContextFactory{TSaga}"/> in a
/// fresh PostgreSQL database: MassTransit's real saga pipeline (retry, outbox, missing-instance policy) on the real lock.
/// </summary>
public sealed class SagaHarness : IAsyncDisposable
{
    // Select on the harness' message lists waits for more messages unless the token is already cancelled: this makes it a snapshot.
    static readonly CancellationToken Snapshot = new(true);

    readonly ServiceProvider _services;
    int _published;

    SagaHarness(ServiceProvider services, string connectionString, DeliveryObserver deliveries)
    {
        _services = services;
        ConnectionString = connectionString;
        Deliveries = deliveries;
    }

    public string ConnectionString { get; }
    public DeliveryObserver Deliveries { get; }
    public ITestHarness Bus => _services.GetRequiredService<ITestHarness>();

    public static async Task<SagaHarness> Start(string scenario, Action<IBusRegistrationConfigurator> configureBus,
        Action<IServiceCollection>? configureServices = null)
    {
        var connectionString = await LocalInfrastructure.CreateDatabase(scenario);
        var services = new ServiceCollection()
            .AddPlatformData(connectionString)
            .AddMassTransitTestHarness(configureBus)
            // The harness logs everything, EF Core's SQL included, at Debug: thousands of lines that slow the races down.
            .Configure<TextWriterLoggerOptions>(o => o.LogLevel = LogLevel.Warning);
        configureServices?.Invoke(services);
        var provider = services.BuildServiceProvider(validateScopes: true);

        var deliveries = new DeliveryObserver();
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        harness.Bus.ConnectReceiveObserver(deliveries);
        return new SagaHarness(provider, connectionString, deliveries);
    }

    /// <summary>Publishes an event to the saga (every message published here is delivered to the saga's endpoint once).</summary>
    public Task Publish<T>(T message, Guid? messageId = null) where T : class
    {
        Interlocked.Increment(ref _published);
        return Bus.Bus.Publish(message, context =>
        {
            if (messageId is not null)
                context.MessageId = messageId;
        });
    }

    public async Task<BatchState?> Saga(Guid correlationId)
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        return await db.BatchStates.AsNoTracking().SingleOrDefaultAsync(x => x.CorrelationId == correlationId);
    }

    public async Task<BatchState> SagaWhen(Guid correlationId, Func<BatchState, bool> done, string what) =>
        (await Poll.Until(() => Saga(correlationId), s => s is not null && done(s), TimeSpan.FromSeconds(15), what,
            TimeSpan.FromMilliseconds(20)))!;

    /// <summary>
    /// Waits until every event published so far has left the receive pipeline (consumed, or faulted after every retry),
    /// which is also after its outbox released what the saga published.
    /// </summary>
    public Task AllSettled()
    {
        var published = Volatile.Read(ref _published);
        return Poll.Until(() => Task.FromResult(Deliveries.Settled), n => n >= published, TimeSpan.FromSeconds(20),
            $"{published} deliveries to settle", TimeSpan.FromMilliseconds(20));
    }

    public int PublishedCount<T>(Func<T, bool> filter) where T : class =>
        Bus.Published.Select<T>(Snapshot).Count(m => filter(m.Context.Message));

    public int FaultCount<T>() where T : class => Bus.Published.Select<Fault<T>>(Snapshot).Count();

    /// <summary>Task rows in a terminal status, as the workers would have left them before reporting.</summary>
    public async Task<Guid[]> SeedTasks(Guid batchId, params string[] statuses)
    {
        await using var scope = _services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
        var tasks = statuses.Select((status, i) => new Platform.Data.Model.ResearchTask
        {
            TaskId = Guid.NewGuid(), BatchId = batchId, UserId = "user-1", Seq = i, Key = $"key-{i}", Input = "{}", Status = status,
            QueuedAt = DateTimeOffset.UtcNow, FinishedAt = DateTimeOffset.UtcNow,
        }).ToArray();
        db.Tasks.AddRange(tasks);
        await db.SaveChangesAsync();
        return tasks.Select(t => t.TaskId).ToArray();
    }

    public async Task<T> Scalar<T>(string sql, params object[] parameters)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var parameter in parameters)
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public async ValueTask DisposeAsync()
    {
        await Bus.Stop();
        await _services.DisposeAsync();
    }
}

/// <summary>
/// The batch saga's endpoint with the production retry and outbox but without its partitioner, so concurrent events
/// for one batch really meet at the database and the row lock is the only thing serializing them.
/// </summary>
public sealed class UnpartitionedBatchStateDefinition : SagaDefinition<BatchState>
{
    public UnpartitionedBatchStateDefinition()
    {
        Endpoint(e => e.Name = BatchStateDefinition.QueueName);
        ConcurrentMessageLimit = BatchStateDefinition.ConcurrencyLimit;
    }

    protected override void ConfigureSaga(IReceiveEndpointConfigurator endpointConfigurator, ISagaConfigurator<BatchState> sagaConfigurator,
        IRegistrationContext context) =>
        BatchStateDefinition.ConfigureDelivery(endpointConfigurator, context);
}

/// <summary>Counts deliveries through the receive pipeline and the most that were in it at once.</summary>
public sealed class DeliveryObserver : IReceiveObserver
{
    int _inFlight;
    int _maxInFlight;
    int _settled;
    int _consumedOnRetry;

    public int Settled => Volatile.Read(ref _settled);

    /// <summary>Deliveries consumed only on a retry: their first attempt failed (a lost insert race, a missing instance, a crash).</summary>
    public int ConsumedOnRetry => Volatile.Read(ref _consumedOnRetry);

    /// <summary>The most deliveries inside the pipeline at one time: above one means events really ran side by side.</summary>
    public int MaxInFlight => Volatile.Read(ref _maxInFlight);

    /// <summary>Starts a new measurement of <see cref="MaxInFlight"/>.</summary>
    public void ResetMaxInFlight() => Volatile.Write(ref _maxInFlight, Volatile.Read(ref _inFlight));

    public Task PreReceive(ReceiveContext context)
    {
        var now = Interlocked.Increment(ref _inFlight);
        int max;
        while (now > (max = Volatile.Read(ref _maxInFlight)) && Interlocked.CompareExchange(ref _maxInFlight, now, max) != max)
        {
        }

        return Task.CompletedTask;
    }

    public Task PostReceive(ReceiveContext context) => Leave();

    public Task ReceiveFault(ReceiveContext context, Exception exception) => Leave();

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType) where T : class
    {
        if (context.GetRetryAttempt() > 0)
            Interlocked.Increment(ref _consumedOnRetry);
        return Task.CompletedTask;
    }

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception) where T : class =>
        Task.CompletedTask;

    Task Leave()
    {
        Interlocked.Decrement(ref _inFlight);
        Interlocked.Increment(ref _settled);
        return Task.CompletedTask;
    }
}
