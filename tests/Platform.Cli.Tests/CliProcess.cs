using System.Diagnostics;
using Platform.Testing;

namespace Platform.Cli.Tests;

public sealed record CliRun(int ExitCode, string Output, string Error)
{
    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Output}\n--- stderr ---\n{Error}";
}

/// <summary>The built `platform` tool run as its own process, as a user or a script runs it; its config folder is the test's own.</summary>
public sealed class CliProcess(string configHome)
{
    public static string Dll => Path.Combine(LocalInfrastructure.RepositoryRoot, "tools", "Platform.Cli", "bin", ServiceProcess.BuildConfiguration, "net10.0",
        "Platform.Cli.dll");

    public string ConfigHome { get; } = configHome;

    public async Task<CliRun> Run(IReadOnlyDictionary<string, string?> environment, TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = ConfigHome,
        };
        start.ArgumentList.Add(Dll);
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        start.Environment["XDG_CONFIG_HOME"] = ConfigHome;
        start.Environment.Remove(CliConfig.ApiVariable);
        start.Environment.Remove(CliConfig.ApiKeyVariable);
        foreach (var (key, value) in environment)
        {
            if (value is null)
                start.Environment.Remove(key);
            else
                start.Environment[key] = value;
        }

        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"platform {string.Join(' ', args)} did not exit within {timeout.TotalSeconds:0} s:\n" +
                                       $"{await output}\n{await error}");
        }

        return new CliRun(process.ExitCode, await output, await error);
    }
}
