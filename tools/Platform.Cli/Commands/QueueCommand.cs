using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace Platform.Cli.Commands;

/// <summary><c>platform queue</c>: the caller's desks and unfinished batches, from <c>GET /v1/queue</c>.</summary>
public static class QueueCommand
{
    public static Command Create()
    {
        var json = CliApp.JsonOption();
        var command = new Command("queue", "Show your desks (one per slot) and your unfinished batches") { json };
        command.SetAction(CliApp.Action(async (parse, cancellationToken) =>
        {
            using var api = CliApp.Api();
            var queue = await api.Get("/v1/queue", cancellationToken);
            if (parse.GetValue(json))
            {
                Console.WriteLine(queue.ToJsonString());
                return ExitCodes.Ok;
            }

            var eta = queue["etaSeconds"] is JsonValue e && e.TryGetValue<double>(out var seconds)
                ? string.Create(CultureInfo.InvariantCulture, $"{seconds:0} s")
                : "unknown yet";
            AnsiConsole.WriteLine($"tier {queue["tier"]}: {queue["concurrency"]} desks, {queue["running"]} running, {queue["queued"]} queued, eta {eta}");

            var desks = new Table().AddColumns("desk", "task", "batch", "since");
            foreach (var slot in queue["slots"]?.AsArray() ?? [])
            {
                desks.AddRow(Cell(slot?["slot"]), slot?["taskId"] is null ? "[grey]idle[/]" : Cell(slot["key"] ?? slot["taskId"]),
                    Cell(slot?["batchId"]), Cell(slot?["startedAt"] ?? slot?["dispatchedAt"]));
            }

            AnsiConsole.Write(desks);
            var batches = new Table().AddColumns("batch", "name", "status", "done", "running", "queued");
            foreach (var batch in queue["batches"]?.AsArray() ?? [])
            {
                batches.AddRow(Cell(batch?["batchId"]), Cell(batch?["name"]), Cell(batch?["status"]),
                    Markup.Escape($"{batch?["completed"]}/{batch?["total"]}" + (batch?["failed"] is JsonValue f && f.GetValue<int>() > 0 ? $" ({f} failed)" : "")),
                    Cell(batch?["running"]), Cell(batch?["queued"]));
            }

            if (batches.Rows.Count == 0)
                AnsiConsole.WriteLine("no unfinished batches");
            else
                AnsiConsole.Write(batches);
            return ExitCodes.Ok;
        }));
        return command;
    }

    static string Cell(JsonNode? value) => value is null ? "" : Markup.Escape(value is JsonValue v && v.TryGetValue<string>(out var s) ? s : value.ToJsonString());
}
