using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using Npgsql;
using Platform.Data;

namespace Platform.Testing;

/// <summary>
/// One RabbitMQ + PostgreSQL pair run by <c>infra/local.sh</c>: <see cref="LocalInfrastructure.Shared"/> for every test,
/// or a <see cref="Dedicated"/> pair (its own folder and ports) for a fault drill that stops and restarts a server
/// without touching anyone else's tests, or the shared PostgreSQL with the <see cref="RabbitMqCluster"/> (three RabbitMQ
/// nodes, <c>local.sh cluster</c>) for the drill of a node's loss.
/// </summary>
public sealed class LocalServers
{
    readonly SemaphoreSlim _gate = new(1, 1);
    readonly IReadOnlyDictionary<string, string> _environment;
    readonly string _tag;
    readonly string _templateDatabase;
    readonly string _command;
    Settings? _settings;

    /// <summary>
    /// What <c>local.sh env</c> printed. <paramref name="RabbitMqNodes"/>: <c>Platform__RabbitMq__Nodes</c> for the
    /// services, set only for the cluster; <paramref name="ManagementUrls"/>: every node's management API.
    /// </summary>
    public sealed record Settings(string PlatformDb, string AdminDb, string RabbitMq, string ManagementUrl,
        string? RabbitMqNodes, IReadOnlyList<string> ManagementUrls);

    internal LocalServers(string name, IReadOnlyDictionary<string, string> environment, string command = "")
    {
        _environment = environment;
        _command = command;
        // Per checkout and pair: two clones (or worktrees) testing at once against the same servers never touch each
        // other's databases.
        _tag = Hash(LocalInfrastructure.RepositoryRoot + "|" + name, 8);
        // One per test project too: infra/test.sh runs two projects at once, and each process recreates its template on start.
        _templateDatabase = $"platform_template_{_tag}_{Hash(AppContext.BaseDirectory, 6)}";
    }

    static string Hash(string text, int length) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..length];

    /// <summary>
    /// A pair of its own under <c>.local/dedicated/&lt;name&gt;</c>: PostgreSQL on <paramref name="postgresPort"/>, RabbitMQ
    /// AMQP on <paramref name="rabbitPort"/> (management, distribution and epmd on the next three ports); <paramref name="extra"/>
    /// are more of local.sh's settings (such as <c>PLATFORM_PG_STATEMENT_STATS</c>).
    /// </summary>
    public static LocalServers Dedicated(string name, int postgresPort, int rabbitPort, IReadOnlyDictionary<string, string>? extra = null) =>
        new(name, new Dictionary<string, string>(extra ?? new Dictionary<string, string>())
        {
            ["PLATFORM_LOCAL_DIR"] = Path.Combine(LocalInfrastructure.RepositoryRoot, ".local", "dedicated", name),
            ["PLATFORM_PG_PORT"] = postgresPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["PLATFORM_RABBIT_PORT"] = rabbitPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

    /// <summary>
    /// The shared PostgreSQL with the three-node RabbitMQ cluster (<c>local.sh cluster up|env|down|kill</c>; ports
    /// 55690-55699) in place of the shared node. <see cref="Up"/> starts the nodes that do not run (a killed one rejoins).
    /// </summary>
    public static LocalServers RabbitMqCluster() => new("cluster", new Dictionary<string, string>(), "cluster ");

    public bool IsRabbitMqCluster => _command.Length > 0;

    /// <summary>Starts the servers if needed (idempotent) and migrates the template database once.</summary>
    public async Task<Settings> Start()
    {
        await _gate.WaitAsync();
        try
        {
            if (_settings is not null)
                return _settings;

            await Up();
            var env = ParseEnv(await Run(_command + "env"));
            var settings = new Settings(env["ConnectionStrings__Platform"], env["PLATFORM_PG_ADMIN"], env["ConnectionStrings__RabbitMq"],
                env["PLATFORM_RABBIT_MGMT_URL"], env.GetValueOrDefault("Platform__RabbitMq__Nodes"),
                env.TryGetValue("PLATFORM_RABBIT_MGMT_URLS", out var urls) ? urls.Split(',') : [env["PLATFORM_RABBIT_MGMT_URL"]]);

            await RecreateDatabase(settings.AdminDb, _templateDatabase, template: null);
            // No pooling: an idle pooled connection to the template would block CREATE DATABASE … TEMPLATE.
            await DataExtensions.MigrateAsync(new NpgsqlConnectionStringBuilder(LocalInfrastructure.WithDatabase(settings.PlatformDb, _templateDatabase)) { Pooling = false }.ConnectionString);
            _settings = settings;
            return settings;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Starts whichever server is not running (both, after <see cref="Stop"/> of one, or neither).</summary>
    public Task Up() => Run(_command + "up");

    /// <summary>
    /// Stops one server (<c>"postgres"</c> or <c>"rabbitmq"</c>) or, with null, both. Only for a dedicated pair; for the
    /// cluster, its three nodes (never the shared PostgreSQL).
    /// </summary>
    public Task Stop(string? server = null)
    {
        if (ReferenceEquals(this, LocalInfrastructure.Shared))
            throw new InvalidOperationException("The shared servers serve every test: stop a LocalServers.Dedicated pair instead.");
        if (IsRabbitMqCluster)
            return server is null ? Run("cluster down") : throw new ArgumentException("The cluster stops as a whole", nameof(server));
        return Run(server is null ? "down" : $"down {server}");
    }

    /// <summary>kill -9 of cluster node <paramref name="node"/> (1-3): its Erlang VM's OS process. Returns that pid.</summary>
    public async Task<int> KillClusterNode(int node)
    {
        if (!IsRabbitMqCluster)
            throw new InvalidOperationException("Only the RabbitMQ cluster has nodes to kill.");
        return int.Parse((await Run($"cluster kill {node}")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A fresh, migrated database for one test (a copy of the template): returns its connection string.</summary>
    public async Task<string> CreateDatabase(string name)
    {
        var settings = await Start();
        var database = $"t{_tag}_{Sanitize(name)}";
        await RecreateDatabase(settings.AdminDb, database, _templateDatabase);
        return LocalInfrastructure.WithDatabase(settings.PlatformDb, database);
    }

    /// <summary>A fresh RabbitMQ virtual host for one test: returns the amqp:// connection string.</summary>
    public async Task<string> CreateVirtualHost(string name)
    {
        var settings = await Start();
        var vhost = $"t{_tag}_{Sanitize(name)}";
        var amqp = new Uri(settings.RabbitMq);
        var credentials = amqp.UserInfo.Split(':');
        using var http = await ManagementClient();
        var path = Uri.EscapeDataString(vhost);
        (await http.DeleteAsync($"/api/vhosts/{path}")).Dispose();
        (await http.PutAsync($"/api/vhosts/{path}", new StringContent("{}", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        (await http.PutAsync($"/api/permissions/{path}/{Uri.EscapeDataString(credentials[0])}",
            new StringContent("""{"configure":".*","write":".*","read":".*"}""", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        return new UriBuilder(amqp) { Path = "/" + path }.Uri.ToString();
    }

    /// <summary>
    /// Deletes a test's virtual host once the test is done with it. Every quorum queue holds file handles in the broker
    /// until deleted, and the shared broker runs out of them (it then stops accepting connections and declarations
    /// for everyone) if test runs leave their virtual hosts behind.
    /// </summary>
    public async Task DeleteVirtualHost(string name)
    {
        using var http = await ManagementClient();
        (await http.DeleteAsync($"/api/vhosts/{Uri.EscapeDataString($"t{_tag}_{Sanitize(name)}")}")).Dispose();
    }

    /// <summary>The management API client for assertions about queues (authenticated as the platform user).</summary>
    public async Task<HttpClient> ManagementClient() => await ManagementClient(0);

    /// <summary>The management API of the <paramref name="index"/>-th node (0-based; a cluster's nodes each serve the whole cluster's figures).</summary>
    public async Task<HttpClient> ManagementClient(int index)
    {
        var settings = await Start();
        var http = new HttpClient { BaseAddress = new Uri(settings.ManagementUrls[index]) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes(Uri.UnescapeDataString(new Uri(settings.RabbitMq).UserInfo))));
        return http;
    }

    static async Task RecreateDatabase(string adminConnectionString, string database, string? template)
    {
        await using var connection = new NpgsqlConnection(adminConnectionString);
        await connection.OpenAsync();
        await using (var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", connection))
            await drop.ExecuteNonQueryAsync();
        var sql = template is null ? $"CREATE DATABASE \"{database}\"" : $"CREATE DATABASE \"{database}\" TEMPLATE \"{template}\"";
        await using var create = new NpgsqlCommand(sql, connection);
        await create.ExecuteNonQueryAsync();
    }

    static string Sanitize(string name)
    {
        var cleaned = new string(name.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray());
        return cleaned.Length <= 50 ? cleaned : cleaned[..50];
    }

    static Dictionary<string, string> ParseEnv(string output) =>
        output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Trim())
            .Where(l => l.StartsWith("export ", StringComparison.Ordinal))
            .Select(l => l["export ".Length..].Split('=', 2))
            .ToDictionary(p => p[0], p => p[1].Trim('\'', '"'));

    async Task<string> Run(string arguments)
    {
        var file = Path.Combine(LocalInfrastructure.RepositoryRoot, "infra", "local.sh");
        var start = new ProcessStartInfo("bash", $"\"{file}\" {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = LocalInfrastructure.RepositoryRoot,
        };
        foreach (var (key, value) in _environment)
            start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"local.sh {arguments} failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        return await stdout;
    }
}
