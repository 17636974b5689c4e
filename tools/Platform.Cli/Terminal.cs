using Spectre.Console;

namespace Platform.Cli;

/// <summary>Where output goes: stdout for what a script reads, stderr for what a person reads; live bars only on a terminal.</summary>
public static class Terminal
{
    /// <summary>Live bars and prompts only where someone watches: not when stdout is redirected, nor in CI.</summary>
    public static bool IsInteractive =>
        !Console.IsOutputRedirected && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI")) && AnsiConsole.Profile.Capabilities.Interactive;

    public static bool CanPrompt => IsInteractive && !Console.IsInputRedirected;

    public static void Info(string line) => Console.Error.WriteLine(line);

    public static void Error(CliException error)
    {
        Console.Error.WriteLine($"error: {error.Message}");
        foreach (var detail in error.Details)
            Console.Error.WriteLine($"  {detail}");
    }
}
