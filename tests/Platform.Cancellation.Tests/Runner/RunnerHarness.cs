using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging;
using Npgsql;
using Platform.Contracts;
using Platform.Data;
using Platform.Data.Tiers;
using Platform.Dispatch;
using Platform.Secrets;
using Platform.Testing;
using Platform.Worker.Execution;
using Platform.Worker.Research;

namespace Platform.Cancellation.Tests.Runner;

/// <summary>
/// The worker's <see cref="TaskRunner"/> as the worker wires it (with the user's work queue it refills slots through),
/// on a real database of its own, with a scripted research executor and a host lifetime the test can stop.
/// </summary>
public sealed class RunnerHarness : IAsyncDisposable
{
    readonly ServiceProvider _services;

    RunnerHarness(string database, int starterConcurrency)
    {
        Database = database;
        _services = new ServiceCollection()
            .AddPlatformData(database)
            .AddLogging(l => l.SetMinimumLevel(LogLevel.Warning))
            .AddSingleton(TimeProvider.System)
            .AddSingleton<RunningTasks>()
            .AddSingleton(Notices)
            .AddSingleton<TaskEnds>()
            .AddSingleton<IResearchExecutor>(Executor)
            .AddPlatformSecrets(o => o.MasterKey = MasterKey.Generate(), readOnly: true)
            .AddScoped<UserCredentials>()
            .AddScoped<TaskRunner>()
            .AddScoped<UserWorkQueue>()
            .AddSingleton<IHostApplicationLifetime, ApplicationLifetime>()
            .Configure<TierOptions>(o => o.Tiers["starter"] = new Tier { Concurrency = starterConcurrency, MonthlyQuota = 500 })
            .AddOptions()
            .Configure<WorkerOptions>(o => o.MaxAttempts = 3)
            .BuildServiceProvider(validateScopes: true);
    }

    public static async Task<RunnerHarness> Start(string name, int starterConcurrency = 3)
    {
        var harness = new RunnerHarness(await LocalInfrastructure.CreateDatabase(name), starterConcurrency);
        // A fleet with room to spare, live for the whole test: the runner's refill gives out units of it.
        await harness.Sql("INSERT INTO workers (worker_id, capacity, started_at, heartbeat_at, stopping) VALUES ('harness:1', 100, now(), now() + interval '1 hour', false)");
        return harness;
    }

    public string Database { get; }

    public ScriptedExecutor Executor { get; } = new();

    /// <summary>What the runner left for the sagas to hear (nothing sends it here).</summary>
    public BatchEndNotices Notices { get; } = new();

    public RunningTasks RunningTasks => _services.GetRequiredService<RunningTasks>();

    /// <summary>SIGTERM as the runner sees it: the host is stopping.</summary>
    public void StopHost() => _services.GetRequiredService<IHostApplicationLifetime>().StopApplication();

    /// <summary>
    /// Delivers an ExecuteTask to a runner of its own scope, as the consumer does: a first delivery, or with
    /// <paramref name="redelivery"/> one RabbitMQ gave back after its holder let go of it.
    /// </summary>
    public async Task Run(ExecuteTask command, bool redelivery = false, CancellationToken cancellationToken = default)
    {
        await using var scope = _services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<TaskRunner>().Run(command, redelivery, cancellationToken);
    }

    public async Task<T> Read<T>(Func<PlatformDbContext, Task<T>> read)
    {
        await using var scope = _services.CreateAsyncScope();
        return await read(scope.ServiceProvider.GetRequiredService<PlatformDbContext>());
    }

    /// <summary>The outbox's message types (short names), oldest first.</summary>
    public async Task<List<string>> Outbox()
    {
        var types = await Read(db => db.OutboxMessages.AsNoTracking().OrderBy(m => m.Id).Select(m => m.MessageType).ToListAsync());
        return types.Select(t => t.Split('.').Last()).ToList();
    }

    public async Task Sql(string sql)
    {
        await using var connection = new NpgsqlConnection(Database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async Task<T> Scalar<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(Database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public ValueTask DisposeAsync() => _services.DisposeAsync();

    public sealed class ScriptedExecutor : IResearchExecutor
    {
        public Func<ResearchRequest, CancellationToken, Task<JsonObject>> Script { get; set; } =
            (_, _) => Task.FromResult(new JsonObject());

        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Calls { get; private set; }

        /// <summary>The tasks the executor was asked to run, in order.</summary>
        public List<Guid> Ran { get; } = [];

        public async Task<ResearchOutcome> Execute(ResearchRequest request, IProgress<string> stage, CancellationToken cancellationToken)
        {
            Calls++;
            Ran.Add(request.TaskId);
            Started.TrySetResult();
            return new ResearchOutcome(await Script(request, cancellationToken), Usage: null);
        }
    }
}
