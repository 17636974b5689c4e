using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using Npgsql;
using Platform.Data;

namespace Platform.Testing;

/// <summary>
/// The real RabbitMQ and PostgreSQL that <c>infra/local.sh</c> installs and starts (project-local folder, own ports).
/// Started once per test run; each test gets its own database (cloned from a migrated template) and its own vhost.
/// </summary>
public static class LocalInfrastructure
{
    static readonly SemaphoreSlim Gate = new(1, 1);
    static Settings? _settings;

    public sealed record Settings(string PlatformDb, string AdminDb, string RabbitMq, string ManagementUrl);

    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>Starts the servers if needed (idempotent) and migrates the template database once.</summary>
    public static async Task<Settings> Start()
    {
        await Gate.WaitAsync();
        try
        {
            if (_settings is not null)
                return _settings;

            await Run(Path.Combine(RepositoryRoot, "infra", "local.sh"), "up");
            var env = ParseEnv(await Run(Path.Combine(RepositoryRoot, "infra", "local.sh"), "env"));
            var settings = new Settings(env["ConnectionStrings__Platform"], env["PLATFORM_PG_ADMIN"], env["ConnectionStrings__RabbitMq"],
                env["PLATFORM_RABBIT_MGMT_URL"]);

            await RecreateDatabase(settings.AdminDb, TemplateDatabase, template: null);
            // No pooling: an idle pooled connection to the template would block CREATE DATABASE … TEMPLATE.
            await DataExtensions.MigrateAsync(new NpgsqlConnectionStringBuilder(WithDatabase(settings.PlatformDb, TemplateDatabase)) { Pooling = false }.ConnectionString);
            _settings = settings;
            return settings;
        }
        finally
        {
            Gate.Release();
        }
    }

    // Per checkout: two clones (or worktrees) testing at once against the same servers never touch each other's databases.
    static readonly string CheckoutTag = Convert.ToHexStringLower(
        System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(RepositoryRoot)))[..8];

    static readonly string TemplateDatabase = $"platform_template_{CheckoutTag}";

    /// <summary>A fresh, migrated database for one test (a copy of the template): returns its connection string.</summary>
    public static async Task<string> CreateDatabase(string name)
    {
        var settings = await Start();
        var database = $"t{CheckoutTag}_{Sanitize(name)}";
        await RecreateDatabase(settings.AdminDb, database, TemplateDatabase);
        return WithDatabase(settings.PlatformDb, database);
    }

    /// <summary>A fresh RabbitMQ virtual host for one test: returns the amqp:// connection string.</summary>
    public static async Task<string> CreateVirtualHost(string name)
    {
        var settings = await Start();
        var vhost = $"t{CheckoutTag}_{Sanitize(name)}";
        var amqp = new Uri(settings.RabbitMq);
        var credentials = amqp.UserInfo.Split(':');
        using var http = new HttpClient { BaseAddress = new Uri(settings.ManagementUrl) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(amqp.UserInfo)));
        var path = Uri.EscapeDataString(vhost);
        (await http.DeleteAsync($"/api/vhosts/{path}")).Dispose();
        (await http.PutAsync($"/api/vhosts/{path}", new StringContent("{}", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        (await http.PutAsync($"/api/permissions/{path}/{Uri.EscapeDataString(credentials[0])}",
            new StringContent("""{"configure":".*","write":".*","read":".*"}""", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        return new UriBuilder(amqp) { Path = "/" + path }.Uri.ToString();
    }

    /// <summary>The management API client for assertions about queues (authenticated as the platform user).</summary>
    public static async Task<HttpClient> ManagementClient()
    {
        var settings = await Start();
        var http = new HttpClient { BaseAddress = new Uri(settings.ManagementUrl) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes(Uri.UnescapeDataString(new Uri(settings.RabbitMq).UserInfo))));
        return http;
    }

    public static string WithDatabase(string connectionString, string database) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Database = database }.ConnectionString;

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

    static async Task<string> Run(string file, string arguments)
    {
        var start = new ProcessStartInfo("bash", $"\"{file}\" {arguments}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepositoryRoot,
        };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {arguments} failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        return await stdout;
    }

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Platform.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException("Platform.sln not found above " + AppContext.BaseDirectory);
    }
}
