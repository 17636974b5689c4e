using System.Collections.Concurrent;
using System.Diagnostics;

namespace Platform.Contracts.Tests;

/// <summary>A <c>dotnet</c> command run to its end with a deadline: its exit code and everything it printed.</summary>
public sealed record DotnetRun(int ExitCode, string Output)
{
    public static async Task<DotnetRun> Start(IEnumerable<string> arguments, TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
            start.Environment[key] = value;

        var output = new ConcurrentQueue<string>();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Keep(output, e.Data);
        process.ErrorDataReceived += (_, e) => Keep(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"dotnet {string.Join(' ', arguments)} did not exit within {timeout.TotalSeconds:F0} s:\n{string.Join('\n', output)}");
        }

        return new DotnetRun(process.ExitCode, string.Join('\n', output));
    }

    static void Keep(ConcurrentQueue<string> output, string? line)
    {
        if (line is not null)
            output.Enqueue(line);
    }
}
