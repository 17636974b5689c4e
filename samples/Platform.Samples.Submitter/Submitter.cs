using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.Contracts;

namespace Platform.Samples.Submitter;

/// <summary>Publishes one <see cref="SubmitBatch"/> and waits for its answer, then for its end.</summary>
public sealed partial class Submitter(IBus bus, BatchWatch watch, IOptions<SubmitterOptions> options, ILogger<Submitter> logger)
{
    /// <summary>Exit codes, for scripts: the batch's outcome, or why it has none.</summary>
    public static class ExitCodes
    {
        public const int Completed = 0;
        public const int FinishedWithFailures = 1;
        public const int Rejected = 2;
        public const int TimedOut = 3;
        public const int Interrupted = 130;
    }

    public async Task<int> Run(CancellationToken stopping)
    {
        var o = options.Value;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        deadline.CancelAfter(o.Timeout);

        var tasks = Enumerable.Range(1, o.TaskCount).Select(i => new TaskSpec($"company-{i}", Input(o, i))).ToList();
        LogSubmitting(logger, watch.BatchId, o.TaskCount, o.UserId);

        try
        {
            // Published, not sent: intake's submit-batch queue is bound to the SubmitBatch exchange, whichever intake answers.
            await bus.Publish(new SubmitBatch(watch.BatchId, o.UserId, o.BatchName, o.Instructions, tasks, DateTimeOffset.UtcNow), deadline.Token);

            switch (await watch.Answer.WaitAsync(deadline.Token))
            {
                case BatchRejected rejected:
                    LogRejected(logger, rejected.BatchId, rejected.Reason,
                        string.Join("; ", rejected.Errors.SelectMany(e => e.Value.Select(message => $"{e.Key}: {message}"))));
                    return ExitCodes.Rejected;
                case BatchSubmitted submitted:
                    LogAccepted(logger, submitted.BatchId, submitted.Total);
                    break;
            }

            var finished = await watch.Finished.WaitAsync(deadline.Token);
            LogFinished(logger, finished.BatchId, finished.Status, finished.Completed, finished.Failed, finished.Cancelled, finished.Total);
            return finished.Status == "completed" ? ExitCodes.Completed : ExitCodes.FinishedWithFailures;
        }
        catch (OperationCanceledException) when (!stopping.IsCancellationRequested)
        {
            LogTimedOut(logger, watch.BatchId, o.Timeout, watch.Answer.IsCompleted ? "BatchFinished" : "answer (BatchSubmitted or BatchRejected)");
            return ExitCodes.TimedOut;
        }
        catch (OperationCanceledException)
        {
            // The batch goes on without us; GET /v1/batches/{batchId} still shows it.
            LogInterrupted(logger, watch.BatchId);
            return ExitCodes.Interrupted;
        }
    }

    static Dictionary<string, object?> Input(SubmitterOptions o, int i)
    {
        var input = new Dictionary<string, object?> { ["company"] = $"Company {i}" };
        if (o.SimulateDurationMs is { } durationMs)
            input["simulate"] = new Dictionary<string, object?> { ["durationMs"] = durationMs };
        return input;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Submitting batch {BatchId}: {TaskCount} tasks for user {UserId}")]
    static partial void LogSubmitting(ILogger logger, Guid batchId, int taskCount, string userId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Batch {BatchId} accepted: {Total} tasks queued")]
    static partial void LogAccepted(ILogger logger, Guid batchId, int total);

    [LoggerMessage(Level = LogLevel.Error, Message = "Batch {BatchId} rejected: {Reason}: {Errors}")]
    static partial void LogRejected(ILogger logger, Guid batchId, string reason, string errors);

    [LoggerMessage(Level = LogLevel.Information, Message = "Batch {BatchId} finished: {Status}, {Completed} completed, {Failed} failed, {Cancelled} cancelled of {Total}")]
    static partial void LogFinished(ILogger logger, Guid batchId, string status, int completed, int failed, int cancelled, int total);

    [LoggerMessage(Level = LogLevel.Error, Message = "Batch {BatchId}: no {Awaited} within {Timeout}")]
    static partial void LogTimedOut(ILogger logger, Guid batchId, TimeSpan timeout, string awaited);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Stopped before batch {BatchId} finished; it goes on running on the platform")]
    static partial void LogInterrupted(ILogger logger, Guid batchId);
}
