using System.CommandLine;
using Platform.Cli.Input;

namespace Platform.Cli.Commands;

/// <summary><c>platform submit FILE</c>: a batch from a CSV or JSONL file; its id on stdout, then (with --watch) its progress.</summary>
public static class SubmitCommand
{
    public static Command Create()
    {
        var file = new Argument<FileInfo>("FILE") { Description = "A .csv (header row = input fields; optional key column) or .jsonl file of tasks" };
        var instructions = new Option<string>("--instructions", "-i")
        {
            Description = "The template each task fills, e.g. \"Research {company}: founding year, HQ\"",
            Required = true,
        };
        var name = new Option<string?>("--name", "-n") { Description = "The batch's name (default: the file's name)" };
        var watch = new Option<bool>("--watch", "-w") { Description = "Follow the batch until it finishes (exit 1 if tasks failed or it was cancelled)" };
        var idempotencyKey = new Option<string?>("--idempotency-key") { Description = "Submit at most once: a repeat with this key answers the first batch" };
        var timeout = CliApp.TimeoutOption();
        var json = CliApp.JsonOption();
        var command = new Command("submit", "Submit a batch of research tasks") { file, instructions, name, watch, idempotencyKey, timeout, json };
        command.SetAction(CliApp.Action(async (parse, cancellationToken) =>
        {
            var path = parse.GetRequiredValue(file).FullName;
            var tasks = TaskFile.Load(path);
            var batchName = parse.GetValue(name) ?? Path.GetFileNameWithoutExtension(path);
            using var api = CliApp.Api();
            var headers = parse.GetValue(idempotencyKey) is { } k ? new Dictionary<string, string> { ["Idempotency-Key"] = k } : null;
            var accepted = await api.Post("/v1/batches",
                new { name = batchName, instructions = parse.GetRequiredValue(instructions), tasks = tasks.Select(t => new { key = t.Key, input = t.Input }) },
                cancellationToken, headers);
            var batchId = accepted["batchId"]!.GetValue<string>();
            if (parse.GetValue(json))
                Console.WriteLine(accepted.ToJsonString());
            else
                Console.WriteLine(batchId);
            Terminal.Info($"submitted '{batchName}': {accepted["total"]} tasks, batch {batchId}");
            return parse.GetValue(watch)
                ? await WatchCommand.Watch(api, [batchId], parse.GetValue(timeout), cancellationToken)
                : ExitCodes.Ok;
        }));
        return command;
    }
}
