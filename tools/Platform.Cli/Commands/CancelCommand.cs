using System.CommandLine;

namespace Platform.Cli.Commands;

/// <summary><c>platform cancel BATCH</c>: queued tasks never start, running ones are told to stop.</summary>
public static class CancelCommand
{
    public static Command Create()
    {
        var batch = new Argument<string>("BATCH") { Description = "The batch id" };
        var command = new Command("cancel", "Cancel a batch") { batch };
        command.SetAction(CliApp.Action(async (parse, cancellationToken) =>
        {
            using var api = CliApp.Api();
            var id = parse.GetRequiredValue(batch);
            var answer = await api.Delete($"/v1/batches/{Uri.EscapeDataString(id)}", cancellationToken);
            Console.WriteLine($"batch {id}: {answer["status"]}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
