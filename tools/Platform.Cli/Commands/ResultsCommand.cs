using System.CommandLine;

namespace Platform.Cli.Commands;

/// <summary><c>platform results BATCH</c>: the batch's results export (every task in key order), to a file or stdout.</summary>
public static class ResultsCommand
{
    public static Command Create()
    {
        var batch = new Argument<string>("BATCH") { Description = "The batch id" };
        var format = new Option<string>("--format", "-f") { Description = "csv or jsonl", DefaultValueFactory = _ => "jsonl" };
        format.AcceptOnlyFromAmong("csv", "jsonl");
        var output = new Option<FileInfo?>("--output", "-o") { Description = "Write to this file instead of standard output" };
        var command = new Command("results", "Download a batch's results as CSV or JSONL") { batch, format, output };
        command.SetAction(CliApp.Action(async (parse, cancellationToken) =>
        {
            using var api = CliApp.Api();
            var id = parse.GetRequiredValue(batch);
            using var response = await api.Open($"/v1/batches/{Uri.EscapeDataString(id)}/results?format={parse.GetRequiredValue(format)}", null,
                cancellationToken);
            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            if (parse.GetValue(output) is not { } file)
            {
                await using var stdout = Console.OpenStandardOutput();
                await body.CopyToAsync(stdout, cancellationToken);
                return ExitCodes.Ok;
            }

            // Written beside the target and renamed at the end: a dropped download never leaves a half file under the real name.
            var temporary = file.FullName + ".part";
            try
            {
                await using (var target = File.Create(temporary))
                    await body.CopyToAsync(target, cancellationToken);
                File.Move(temporary, file.FullName, overwrite: true);
            }
            catch (IOException ex)
            {
                File.Delete(temporary);
                throw new CliException(ExitCodes.Unreachable, $"the download of batch {id}'s results broke off ({ex.Message})", inner: ex);
            }

            Terminal.Info($"wrote {new FileInfo(file.FullName).Length} bytes to {file.FullName}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
