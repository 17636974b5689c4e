using System.CommandLine;
using Platform.Cli.Api;
using Platform.Cli.Commands;

namespace Platform.Cli;

public static class CliApp
{
    /// <summary>Per request; a watch's stream is bounded by its own <c>--timeout</c>, not this.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    public static async Task<int> Run(string[] args)
    {
        var root = new RootCommand("platform: submit research batches to Platform, watch them live, fetch their results.")
        {
            LoginCommand.Create(),
            SubmitCommand.Create(),
            WatchCommand.Create(),
            QueueCommand.Create(),
            ResultsCommand.Create(),
            CancelCommand.Create(),
            UsersCommand.Create(),
        };
        var parsed = root.Parse(args);
        // System.CommandLine answers a usage error with 1, which here means "the batch failed": usage is 2.
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
                await Console.Error.WriteLineAsync($"error: {error.Message}");
            await Console.Error.WriteLineAsync("run `platform --help` (or `platform <command> --help`) for the usage");
            return ExitCodes.Usage;
        }

        return await parsed.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
    }

    /// <summary>An action body: failures become their exit code and a message, never a stack trace.</summary>
    public static Func<ParseResult, CancellationToken, Task<int>> Action(Func<ParseResult, CancellationToken, Task<int>> body) =>
        async (parse, cancellationToken) =>
        {
            try
            {
                return await body(parse, cancellationToken);
            }
            catch (CliException ex)
            {
                Terminal.Error(ex);
                return ex.ExitCode;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                Terminal.Info("interrupted");
                return 130;
            }
        };

    /// <summary>The API the configuration names (environment first, then the file <c>platform login</c> wrote).</summary>
    public static PlatformApi Api()
    {
        var config = CliConfig.Resolve();
        if (config.Api is null)
            throw new CliException(ExitCodes.Usage, $"no API configured: run `platform login` or set {CliConfig.ApiVariable}");
        if (config.ApiKey is null)
            throw new CliException(ExitCodes.Usage, $"no API key configured: run `platform login` or set {CliConfig.ApiKeyVariable}");
        return new PlatformApi(ParseApi(config.Api), config.ApiKey, RequestTimeout);
    }

    public static Uri ParseApi(string api) =>
        Uri.TryCreate(api.Trim(), UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new CliException(ExitCodes.Usage, $"API URL '{api}' is not an absolute http:// or https:// URL (e.g. http://127.0.0.1:55680)");

    /// <summary>A watch's overall deadline: none unless <c>--timeout</c> is given.</summary>
    public static Option<int?> TimeoutOption() => new("--timeout")
    {
        Description = "Give up (exit 3) when the batches have not finished after this many seconds",
    };

    public static Option<bool> JsonOption() => new("--json") { Description = "Print the API's JSON answer instead of text, for scripts" };
}
