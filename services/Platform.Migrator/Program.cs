using Microsoft.EntityFrameworkCore.Design;
using Microsoft.EntityFrameworkCore.Migrations.Design;
using Microsoft.Extensions.DependencyInjection;
using Npgsql.EntityFrameworkCore.PostgreSQL.Design.Internal;
using Platform.Data;
using Platform.Secrets;

// Usage:
//   Platform.Migrator [migrate [conn]] apply pending migrations to conn or ConnectionStrings__Platform
//   Platform.Migrator add <Name>       scaffold a migration into services/Platform.Data/Migrations (dotnet-ef is not in our registry)
//   Platform.Migrator rotate-master-key <current-key-file> <next-key-file>
//                                      re-encrypt the Data Protection key ring under the next master key (docs/secrets.md)
var command = args.FirstOrDefault() ?? "migrate";
switch (command)
{
    case "migrate":
    {
        var connectionString = args.Length > 1 ? args[1] : Environment.GetEnvironmentVariable("ConnectionStrings__Platform");
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            await Console.Error.WriteLineAsync("ConnectionStrings__Platform is not set: run `eval \"$(infra/local.sh env)\"` first, or pass the connection string after `migrate`.");
            return 2;
        }

        await DataExtensions.MigrateAsync(connectionString);
        Console.WriteLine("[migrator] database is up to date");
        return 0;
    }
    case "add" when args.Length == 2:
    {
        var dataProject = FindDataProject();
        // The scaffolder only reads the model; it never connects.
        await using var db = new PlatformDbContext(DataExtensions.Options("Host=localhost"));
        var services = new ServiceCollection().AddEntityFrameworkDesignTimeServices().AddDbContextDesignTimeServices(db);
#pragma warning disable EF1001 // The provider's design-time services are what dotnet-ef itself loads.
        new NpgsqlDesignTimeServices().ConfigureDesignTimeServices(services);
#pragma warning restore EF1001
        await using var provider = services.BuildServiceProvider();
        var scaffolder = provider.GetRequiredService<IMigrationsScaffolder>();
        var migration = scaffolder.ScaffoldMigration(args[1], "Platform.Data", "Migrations");
        var files = scaffolder.Save(dataProject, migration, Path.Combine(dataProject, "Migrations"));
        Console.WriteLine($"[migrator] wrote {files.MigrationFile}, {files.MetadataFile}, {files.SnapshotFile}");
        return 0;
    }
    case "rotate-master-key" when args.Length == 3:
    {
        var connectionString = Environment.GetEnvironmentVariable("ConnectionStrings__Platform");
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            await Console.Error.WriteLineAsync("ConnectionStrings__Platform is not set: run `eval \"$(infra/local.sh env)\"` first.");
            return 2;
        }

        MasterKey current, next;
        try
        {
            current = MasterKey.From(new SecretsOptions { MasterKeyFile = args[1] });
            next = MasterKey.From(new SecretsOptions { MasterKeyFile = args[2] });
        }
        catch (InvalidOperationException ex)
        {
            await Console.Error.WriteLineAsync($"[migrator] {ex.Message}");
            return 2;
        }

        await using var db = new PlatformDbContext(DataExtensions.Options(connectionString));
        var changed = await MasterKeyRotation.Rewrap(db, current, next);
        Console.WriteLine($"[migrator] {changed} Data Protection key(s) re-encrypted from master key {current.Id} to {next.Id}; " +
                          "start every service with the new Platform:Secrets master key now");
        return 0;
    }
    default:
        await Console.Error.WriteLineAsync("usage: Platform.Migrator [migrate] | add <MigrationName> | rotate-master-key <current-key-file> <next-key-file>");
        return 2;
}

static string FindDataProject()
{
    for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
    {
        var candidate = Path.Combine(dir.FullName, "services", "Platform.Data");
        if (File.Exists(Path.Combine(candidate, "Platform.Data.csproj")))
            return candidate;
    }

    throw new InvalidOperationException("Run `add` from inside the repository: services/Platform.Data was not found above the current directory.");
}
