using Npgsql;

namespace Platform.Testing;

/// <summary>
/// The real RabbitMQ and PostgreSQL that <c>infra/local.sh</c> installs and starts (project-local folder, own ports).
/// Started once per test run; each test gets its own database (cloned from a migrated template) and its own vhost.
/// </summary>
public static class LocalInfrastructure
{
    // First: Shared's constructor reads it (static initializers run in this order).
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>The pair every test shares (<c>&lt;repo&gt;/.local</c>, the default ports). Never stopped by a test.</summary>
    public static LocalServers Shared { get; } = new("shared", new Dictionary<string, string>());

    /// <summary>Starts the shared servers if needed (idempotent) and migrates the template database once.</summary>
    public static Task<LocalServers.Settings> Start() => Shared.Start();

    /// <summary>A fresh, migrated database on the shared server for one test: returns its connection string.</summary>
    public static Task<string> CreateDatabase(string name) => Shared.CreateDatabase(name);

    /// <summary>A fresh RabbitMQ virtual host on the shared server for one test: returns the amqp:// connection string.</summary>
    public static Task<string> CreateVirtualHost(string name) => Shared.CreateVirtualHost(name);

    /// <summary>The shared server's management API client (authenticated as the platform user).</summary>
    public static Task<HttpClient> ManagementClient() => Shared.ManagementClient();

    /// <summary>
    /// The master key file every service under test gets (<c>Platform__Secrets__MasterKeyFile</c>): generated once under
    /// the git-ignored <c>.local/secrets/</c>, never committed.
    /// </summary>
    public static string MasterKeyFile => MasterKey.Value;

    static readonly Lazy<string> MasterKey = new(() =>
    {
        var file = Path.Combine(RepositoryRoot, ".local", "secrets", "master-key");
        if (!File.Exists(file))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            var temporary = file + "." + Environment.ProcessId;
            File.WriteAllText(temporary, Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            // Two test processes starting at once: the first rename wins and both use its key.
            try
            {
                File.Move(temporary, file, overwrite: false);
            }
            catch (IOException) when (File.Exists(file))
            {
                File.Delete(temporary);
            }
        }

        return file;
    });

    public static string WithDatabase(string connectionString, string database) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Database = database }.ConnectionString;

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
