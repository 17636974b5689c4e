using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Platform.Cli.Api;
using Platform.Cli.Watching;
using Spectre.Console;

namespace Platform.Cli.Commands;

/// <summary><c>platform watch BATCH…</c>: live progress from each batch's event stream until every one has finished.</summary>
public static class WatchCommand
{
    public static Command Create()
    {
        var batches = new Argument<string[]>("BATCH") { Description = "One or more batch ids", Arity = ArgumentArity.OneOrMore };
        var timeout = CliApp.TimeoutOption();
        var command = new Command("watch", "Show live progress of batches until they finish (exit 1 if any had failed tasks or was cancelled)")
        {
            batches, timeout,
        };
        command.SetAction(CliApp.Action(async (parse, cancellationToken) =>
        {
            using var api = CliApp.Api();
            return await Watch(api, parse.GetRequiredValue(batches).Distinct().ToList(), parse.GetValue(timeout), cancellationToken);
        }));
        return command;
    }

    public static async Task<int> Watch(PlatformApi api, IReadOnlyList<string> batchIds, int? timeoutSeconds, CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeoutSeconds is { } seconds)
            deadline.CancelAfter(TimeSpan.FromSeconds(seconds));

        JsonObject[] finished;
        try
        {
            finished = Terminal.IsInteractive
                ? await WithBars(api, batchIds, deadline.Token)
                : await FollowAll(batchIds, (id, token) => new BatchFollower(api, new PlainObserver(Console.Out)).Follow(id, token), deadline.Token);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new CliException(ExitCodes.Unreachable, $"the batches had not finished after {timeoutSeconds} s (they go on running; `platform watch` again)");
        }

        foreach (var batch in finished)
            Console.WriteLine(Summary(batch, watch.Elapsed));
        return finished.All(BatchFollower.Succeeded) ? ExitCodes.Ok : ExitCodes.BatchUnsuccessful;
    }

    static async Task<JsonObject[]> WithBars(PlatformApi api, IReadOnlyList<string> batchIds, CancellationToken cancellationToken)
    {
        JsonObject[] result = [];
        await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new ProgressBarColumn(), new PercentageColumn(), new TaskDescriptionColumn { Alignment = Justify.Left })
            .StartAsync(async context =>
            {
                var bars = batchIds.ToDictionary(id => id, id => context.AddTask(Markup.Escape($"{PlainObserver.Short(id)} connecting…"), maxValue: 1));
                var observer = new BarsObserver(AnsiConsole.Console, bars);
                result = await FollowAll(batchIds, (id, token) => new BatchFollower(api, observer).Follow(id, token), cancellationToken);
            });
        return result;
    }

    /// <summary>Every batch at once; the first one that cannot be followed ends the others too, and its error is the one told.</summary>
    static async Task<JsonObject[]> FollowAll(IReadOnlyList<string> batchIds, Func<string, CancellationToken, Task<JsonObject>> follow,
        CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var follows = batchIds.Select(async id =>
        {
            try
            {
                return await follow(id, stop.Token);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                await stop.CancelAsync();
                throw;
            }
        }).ToList();
        try
        {
            return await Task.WhenAll(follows);
        }
        catch (OperationCanceledException) when (follows.FirstOrDefault(f => f.IsFaulted)?.Exception?.InnerException is { } first)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
            throw;
        }
    }

    static string Summary(JsonObject batch, TimeSpan elapsed)
    {
        var c = Counters.Of(batch);
        var line = string.Create(CultureInfo.InvariantCulture,
            $"batch {batch["batchId"]} '{c.Name}' {c.Status} after {elapsed.TotalSeconds:0.0} s: {c.Completed} completed, {c.Failed} failed, {c.Cancelled} cancelled");
        if (batch["usage"] is JsonObject usage)
            line += $"; provider tokens {usage["promptTokens"]} prompt + {usage["completionTokens"]} completion";
        return line;
    }
}
