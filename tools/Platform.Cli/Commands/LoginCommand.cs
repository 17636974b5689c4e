using System.CommandLine;
using System.Text.Json.Nodes;
using Platform.Cli.Api;
using Spectre.Console;

namespace Platform.Cli.Commands;

/// <summary><c>platform login</c>: checks an API URL and key with one call, then keeps them in the config file (0600).</summary>
public static class LoginCommand
{
    public static Command Create()
    {
        var api = new Option<string?>("--api") { Description = $"The API's URL (default: {CliConfig.ApiVariable}, the config file, or a prompt)" };
        var key = new Option<string?>("--api-key")
        {
            Description = $"The API key; '-' reads it from standard input (default: {CliConfig.ApiKeyVariable}, or a prompt)",
        };
        var command = new Command("login", $"Check an API URL and key and store them in {CliConfig.FilePath}") { api, key };
        command.SetAction(CliApp.Action(async (parse, cancellationToken) =>
        {
            var current = CliConfig.Resolve();
            var url = parse.GetValue(api) ?? current.Api;
            if (url is null)
                url = Terminal.CanPrompt
                    ? AnsiConsole.Prompt(new TextPrompt<string>("API URL:").DefaultValue("http://127.0.0.1:55680"))
                    : throw new CliException(ExitCodes.Usage, $"no API URL: pass --api or set {CliConfig.ApiVariable}");
            var apiKey = parse.GetValue(key);
            if (apiKey == "-")
                apiKey = (await Console.In.ReadLineAsync(cancellationToken))?.Trim();
            apiKey ??= Environment.GetEnvironmentVariable(CliConfig.ApiKeyVariable);
            if (string.IsNullOrWhiteSpace(apiKey))
                apiKey = Terminal.CanPrompt
                    ? AnsiConsole.Prompt(new TextPrompt<string>("API key:").Secret())
                    : throw new CliException(ExitCodes.Usage, $"no API key: pass --api-key (or '-' for standard input) or set {CliConfig.ApiKeyVariable}");

            using var client = new PlatformApi(CliApp.ParseApi(url), apiKey.Trim(), CliApp.RequestTimeout);
            var who = await WhoAmI(client, cancellationToken);
            new CliConfig(client.BaseAddress.ToString().TrimEnd('/'), apiKey.Trim()).Save();
            Terminal.Info($"{who} at {client.BaseAddress}; saved to {CliConfig.FilePath}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>A user's key reads its queue; the admin's is refused there (403) and reads the fleet instead.</summary>
    static async Task<string> WhoAmI(PlatformApi api, CancellationToken cancellationToken)
    {
        try
        {
            var queue = await api.Get("/v1/queue", cancellationToken);
            return $"signed in: a {queue["tier"]} user with {queue["concurrency"]} desks";
        }
        catch (CliException ex) when (ex.ExitCode == ExitCodes.Auth && ex.Message.Contains(" 403", StringComparison.Ordinal))
        {
            JsonObject fleet = await api.Get("/v1/admin/fleet", cancellationToken);
            return $"signed in as the admin (fleet capacity {fleet["capacity"]})";
        }
    }
}
