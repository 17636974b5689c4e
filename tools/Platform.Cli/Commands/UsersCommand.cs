using System.CommandLine;
using System.Text.Json.Nodes;

namespace Platform.Cli.Commands;

/// <summary><c>platform users …</c>: the admin's user management. A new key goes alone to stdout (<c>key=$(platform users create …)</c>).</summary>
public static class UsersCommand
{
    public static Command Create()
    {
        var users = new Command("users", "Manage users (admin key)");
        users.Add(CreateUser());
        users.Add(ChangeTier());
        users.Add(RotateKey());
        users.Add(Show());
        users.Add(ProviderKey());
        return users;
    }

    static Command CreateUser()
    {
        var user = new Argument<string>("USER") { Description = "The new user's id (letters, digits, '.', '_', '-')" };
        var tier = new Option<string>("--tier", "-t") { Description = "free, starter, pro, enterprise, or another configured tier", Required = true };
        var json = CliApp.JsonOption();
        var command = new Command("create", "Create a user; prints their API key (shown once)") { user, tier, json };
        command.SetAction(CliApp.Action(async (parse, cancellationToken) =>
        {
            using var api = CliApp.Api();
            var created = await api.Post("/v1/users", new { userId = parse.GetRequiredValue(user), tier = parse.GetRequiredValue(tier) }, cancellationToken);
            if (parse.GetValue(json))
            {
                Console.WriteLine(created.ToJsonString());
                return ExitCodes.Ok;
            }

            Console.WriteLine(created["apiKey"]);
            Terminal.Info($"created user {created["userId"]} on tier {created["tier"]}; the API key above is shown only once");
            return ExitCodes.Ok;
        }));
        return command;
    }

    static Command ChangeTier()
    {
        var user = new Argument<string>("USER") { Description = "The user's id" };
        var tier = new Argument<string>("TIER") { Description = "The new tier" };
        var json = CliApp.JsonOption();
        var command = new Command("tier", "Change a user's tier (applies to their next dispatch)") { user, tier, json };
        command.SetAction(CliApp.Action(async (parse, cancellationToken) =>
        {
            using var api = CliApp.Api();
            var view = await api.Put($"/v1/users/{Uri.EscapeDataString(parse.GetRequiredValue(user))}/tier", new { tier = parse.GetRequiredValue(tier) },
                cancellationToken);
            Console.WriteLine(parse.GetValue(json) ? view.ToJsonString() : Describe(view));
            return ExitCodes.Ok;
        }));
        return command;
    }

    static Command RotateKey()
    {
        var user = new Argument<string>("USER") { Description = "The user's id" };
        var command = new Command("rotate-key", "Issue a new API key for a user; the old one stops working at once") { user };
        command.SetAction(CliApp.Action(async (parse, cancellationToken) =>
        {
            using var api = CliApp.Api();
            var id = parse.GetRequiredValue(user);
            var rotated = await api.Post($"/v1/users/{Uri.EscapeDataString(id)}/api-key", null, cancellationToken);
            Console.WriteLine(rotated["apiKey"]);
            Terminal.Info($"rotated {id}'s API key: the old key answers 401 from now on; the new one above is shown only once");
            return ExitCodes.Ok;
        }));
        return command;
    }

    static Command Show()
    {
        var user = new Argument<string>("USER") { Description = "The user's id" };
        var json = CliApp.JsonOption();
        var command = new Command("show", "Show a user's tier, slots and this month's use") { user, json };
        command.SetAction(CliApp.Action(async (parse, cancellationToken) =>
        {
            using var api = CliApp.Api();
            var view = await api.Get($"/v1/users/{Uri.EscapeDataString(parse.GetRequiredValue(user))}", cancellationToken);
            Console.WriteLine(parse.GetValue(json) ? view.ToJsonString() : Describe(view));
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>The key is read from standard input, never from the command line, where every process on the machine could read it.</summary>
    static Command ProviderKey()
    {
        var user = new Argument<string>("USER") { Description = "The user's id (yourself, or any user with the admin key)" };
        var baseUrl = new Option<string?>("--base-url") { Description = "The provider's OpenAI-compatible base URL (default: the platform's provider)" };
        var model = new Option<string?>("--model") { Description = "The model to call with this key (default: the platform's model)" };
        var command = new Command("provider-key", "Give a user their own provider key, read from standard input (checked with the provider, stored encrypted)")
        {
            user, baseUrl, model,
        };
        command.SetAction(CliApp.Action(async (parse, cancellationToken) =>
        {
            var key = (await Console.In.ReadLineAsync(cancellationToken))?.Trim();
            if (string.IsNullOrEmpty(key))
                throw new CliException(ExitCodes.Usage, "no provider key on standard input (e.g. `platform users provider-key USER < key.txt`)");
            using var api = CliApp.Api();
            var stored = await api.Put($"/v1/users/{Uri.EscapeDataString(parse.GetRequiredValue(user))}/provider-key",
                new { apiKey = key, baseUrl = parse.GetValue(baseUrl), model = parse.GetValue(model) }, cancellationToken);
            Console.WriteLine($"{parse.GetRequiredValue(user)}: provider key {stored["keyHint"]} ({stored["status"]}) for {stored["model"]} at {stored["baseUrl"]}");
            return ExitCodes.Ok;
        }));
        return command;
    }

    static string Describe(JsonObject user) =>
        $"{user["userId"]}: tier {user["tier"]}, {user["concurrency"]} slots, {user["usedThisMonth"]} of " +
        $"{user["monthlyQuota"]?.ToString() ?? "unlimited"} tasks used this month";
}
