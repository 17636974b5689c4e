using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace Platform.Testing;

/// <summary>
/// A whole Platform on real processes for one test: its own database and vhost (on the shared servers unless given a
/// dedicated pair), N intakes, orchestrators and workers.
/// </summary>
public sealed class PlatformCluster : IAsyncDisposable
{
    public const string AdminKey = "test-admin-key-0123456789abcdef";

    readonly List<ServiceProcess> _services = [];
    readonly Dictionary<string, string> _environment;
    readonly LocalServers _servers;
    readonly string _name;

    PlatformCluster(LocalServers servers, string name, string database, string rabbit, IReadOnlyDictionary<string, string>? settings)
    {
        _servers = servers;
        _name = name;
        Database = database;
        RabbitMq = rabbit;
        _environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__Platform"] = database,
            ["ConnectionStrings__RabbitMq"] = rabbit,
            ["Platform__AdminApiKey"] = AdminKey,
            ["Platform__Secrets__MasterKeyFile"] = LocalInfrastructure.MasterKeyFile,
            ["Platform__Reconciler__Interval"] = "00:00:01",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Platform"] = "Information",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
            _environment[key] = value;
    }

    public string Database { get; }
    public string RabbitMq { get; }
    public IReadOnlyList<ServiceProcess> Services => _services;
    public IEnumerable<ServiceProcess> Workers => _services.Where(s => s.Name.StartsWith("worker", StringComparison.Ordinal));
    public IEnumerable<ServiceProcess> Orchestrators => _services.Where(s => s.Name.StartsWith("orchestrator", StringComparison.Ordinal));
    public IEnumerable<ServiceProcess> Intakes => _services.Where(s => s.Name.StartsWith("intake", StringComparison.Ordinal));
    public ServiceProcess Intake => Intakes.First();

    public static async Task<PlatformCluster> Start(string name, int orchestrators = 1, int workers = 2, int intakes = 1,
        IReadOnlyDictionary<string, string>? settings = null, LocalServers? servers = null)
    {
        servers ??= LocalInfrastructure.Shared;
        var database = await servers.CreateDatabase(name);
        var rabbit = await servers.CreateVirtualHost(name);
        // On the RabbitMQ cluster the services know every node, not only the connection string's.
        if ((await servers.Start()).RabbitMqNodes is { } nodes)
            settings = new Dictionary<string, string>(settings ?? new Dictionary<string, string>()) { ["Platform__RabbitMq__Nodes"] = nodes };
        var cluster = new PlatformCluster(servers, name, database, rabbit, settings);
        try
        {
            // The orchestrators first, so that the saga's queues and bindings exist before any other service publishes to
            // them; then the workers and intakes at once (a start is mostly the process's own JIT: two cores run two).
            await cluster.StartServices(Enumerable.Range(1, orchestrators).Select(i => ("Platform.Orchestrator", $"orchestrator-{i}")));
            await cluster.StartServices(Enumerable.Range(1, workers).Select(i => ("Platform.Worker", $"worker-{i}"))
                .Concat(Enumerable.Range(1, intakes).Select(i => ("Platform.Intake", $"intake-{i}"))));
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return cluster;
    }

    public async Task<ServiceProcess> StartService(string project, string name, IReadOnlyDictionary<string, string>? extra = null)
    {
        var environment = new Dictionary<string, string>(_environment);
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
            environment[key] = value;
        var service = await ServiceProcess.Start(project, name, environment);
        _services.Add(service);
        return service;
    }

    /// <summary>Starts the services together and keeps them in the given order; the ones that started are kept (for disposal) if another failed.</summary>
    async Task StartServices(IEnumerable<(string Project, string Name)> services)
    {
        var starting = services.Select(s => ServiceProcess.Start(s.Project, s.Name, _environment)).ToList();
        try
        {
            await Task.WhenAll(starting);
        }
        finally
        {
            _services.AddRange(starting.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result));
        }
    }

    /// <summary>Starts one more worker (named after how many were started before it) and waits until it is ready.</summary>
    public Task<ServiceProcess> AddWorker(IReadOnlyDictionary<string, string>? extra = null) =>
        StartService("Platform.Worker", $"worker-{Workers.Count() + 1}", extra);

    /// <summary>An HTTP client for the <paramref name="intake"/>-th intake, as the admin or as the owner of <paramref name="apiKey"/>.</summary>
    public HttpClient Client(string? apiKey = null, int intake = 0)
    {
        var http = new HttpClient { BaseAddress = Intakes.ElementAt(intake).BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey ?? AdminKey);
        return http;
    }

    /// <summary>Creates a user through the admin API and returns a client authenticated as that user.</summary>
    public async Task<HttpClient> CreateUser(string userId, string tier)
    {
        using var admin = Client();
        using var response = await admin.PostAsJsonAsync("/v1/users", new { userId, tier });
        await EnsureSuccess(response);
        var created = await response.Content.ReadFromJsonAsync<JsonObject>();
        return Client(created!["apiKey"]!.GetValue<string>());
    }

    public static async Task<Guid> SubmitBatch(HttpClient user, string name, IEnumerable<object> inputs, string instructions = "Research {company}")
    {
        var tasks = inputs.Select((input, i) => new { key = $"task-{i:D5}", input }).ToList();
        using var response = await user.PostAsJsonAsync("/v1/batches", new { name, instructions, tasks });
        await EnsureSuccess(response);
        var accepted = await response.Content.ReadFromJsonAsync<JsonObject>();
        return Guid.Parse(accepted!["batchId"]!.GetValue<string>());
    }

    public static async Task<JsonObject> GetJson(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        await EnsureSuccess(response);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    public static async Task EnsureSuccess(HttpResponseMessage response)
    {
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"{(int)response.StatusCode} {response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {await response.Content.ReadAsStringAsync()}");
    }

    /// <summary>Runs a query against this cluster's database (assertions read the rows, the truth).</summary>
    public async Task<List<T>> Query<T>(string sql, Func<NpgsqlDataReader, T> read, params object[] parameters)
    {
        await using var connection = new NpgsqlConnection(Database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var p in parameters)
            command.Parameters.Add(new NpgsqlParameter { Value = p });
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<T>();
        while (await reader.ReadAsync())
            rows.Add(read(reader));
        return rows;
    }

    public async Task<T> Scalar<T>(string sql, params object[] parameters) => (await Query(sql, r => r.GetFieldValue<T>(0), parameters)).Single();

    /// <summary>What every service printed last, for a failing test's message.</summary>
    public string Logs() => string.Join("\n\n", _services.Select(s => $"--- {s.Name} ---\n{s.Tail(40)}"));

    public async ValueTask DisposeAsync()
    {
        // The test is over: every service at once, SIGKILL. A graceful stop would wait for the workers' running tasks
        // (up to 10 s each); tests that need one (flushed telemetry, whole logs) stop their services themselves first.
        await Task.WhenAll(_services.Select(s => s.Kill()));
        foreach (var service in _services)
            await service.DisposeAsync();
        _services.Clear();

        try
        {
            await _servers.DeleteVirtualHost(_name);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or InvalidOperationException)
        {
            // Best effort: a fault drill may have stopped the broker, and the next run recreates the host anyway.
        }
    }

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
}
