namespace Platform.Cli;

/// <summary>What `platform` exits with; scripts branch on these, so they never change meaning (docs/cli.md).</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>A watched batch finished with failed tasks, or was cancelled.</summary>
    public const int BatchUnsuccessful = 1;

    /// <summary>The command line, an input file, or the request (the API answered 4xx other than 401/403).</summary>
    public const int Usage = 2;

    /// <summary>The API could not be reached, or did not answer (or a watch did not end) in time.</summary>
    public const int Unreachable = 3;

    /// <summary>The API refused the key (401) or the key may not do this (403).</summary>
    public const int Auth = 4;

    /// <summary>The API answered 5xx.</summary>
    public const int Server = 5;
}

/// <summary>A failure that ends the command with <see cref="ExitCode"/>; its message is what the user reads.</summary>
public class CliException(int exitCode, string message, IReadOnlyList<string>? details = null, Exception? inner = null) : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;

    /// <summary>Lines printed below the message: the problem's field errors.</summary>
    public IReadOnlyList<string> Details { get; } = details ?? [];
}
