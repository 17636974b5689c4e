using MassTransit;
using Platform.Contracts;
using Platform.Intake.Submission;

namespace Platform.Intake.Consumers;

/// <summary>
/// Internal services submit over the bus with the same validation and quota as HTTP. The sender's batch id makes a
/// redelivered or resent command a no-op; a refused one is answered with <see cref="BatchRejected"/>. A caller that
/// sent it as a request also hears of acceptance: <see cref="BatchSubmitted"/> (the same answer for a resent command).
/// </summary>
public sealed class SubmitBatchConsumer(BatchSubmission submission) : IConsumer<SubmitBatch>
{
    public async Task Consume(ConsumeContext<SubmitBatch> context)
    {
        var m = context.Message;
        // The bus has no model binding in front of it: what HTTP refuses as an unreadable body arrives here as nulls or
        // unreadable values, and must be answered as a rejection, never a fault.
        var unreadable = new Dictionary<string, string[]>();
        if (m.BatchId == Guid.Empty)
            unreadable["batchId"] = ["batchId is required (a GUID chosen by the sender)"];
        if (string.IsNullOrWhiteSpace(m.UserId))
            unreadable["userId"] = ["userId is required"];
        var request = new BatchRequest
        {
            Name = m.Name,
            Instructions = m.Instructions,
            Tasks = m.Tasks?.Select((t, i) => t is null ? null : new TaskRequest { Key = t.Key, Input = ReadInput(t.Input, $"tasks[{i}].input", unreadable) })
                .ToList(),
        };
        if (unreadable.Count > 0)
        {
            await Reject(context, "the batch is invalid", unreadable);
            return;
        }

        var result = await submission.Submit(m.UserId, m.BatchId, request, idempotencyKey: null, context.CancellationToken);
        var rejection = result switch
        {
            SubmissionResult.Invalid i => ("the batch is invalid", i.Errors),
            SubmissionResult.QuotaExceeded q => ("monthly quota exceeded", new Dictionary<string, string[]> { ["tasks"] = [SubmissionText.Describe(q)] }),
            SubmissionResult.Conflict c => ("conflict", new Dictionary<string, string[]> { ["batchId"] = [c.Reason] }),
            SubmissionResult.UnknownUser u => ("unknown user", new Dictionary<string, string[]> { ["userId"] = [$"user '{u.UserId}' does not exist"] }),
            _ => default((string, IDictionary<string, string[]>)?),
        };

        if (result is SubmissionResult.Accepted accepted && context.RequestId is not null)
            await context.RespondAsync(new BatchSubmitted(accepted.BatchId, m.UserId, m.Name, accepted.Total, DateTimeOffset.UtcNow));

        if (rejection is { } r)
            await Reject(context, r.Item1, r.Item2);
    }

    static async Task Reject(ConsumeContext<SubmitBatch> context, string reason, IDictionary<string, string[]> errors)
    {
        var m = context.Message;
        var rejected = new BatchRejected(m.BatchId, m.UserId ?? "", reason, errors.ToDictionary(e => e.Key, e => e.Value), DateTimeOffset.UtcNow);
        if (context.RequestId is not null)
            await context.RespondAsync(rejected);
        await context.Publish(rejected);
    }

    static System.Text.Json.Nodes.JsonObject? ReadInput(IReadOnlyDictionary<string, object?>? input, string field, Dictionary<string, string[]> errors)
    {
        if (input is null)
            return null;
        try
        {
            return System.Text.Json.JsonSerializer.SerializeToNode(input) as System.Text.Json.Nodes.JsonObject;
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.Text.Json.JsonException or NotSupportedException)
        {
            // An unpaired surrogate in a string, or a value System.Text.Json cannot write.
            errors[field] = [$"{field} must be a JSON object of valid Unicode text: {ex.Message}"];
            return null;
        }
    }
}

public sealed class SubmitBatchConsumerDefinition : ConsumerDefinition<SubmitBatchConsumer>
{
    public SubmitBatchConsumerDefinition()
    {
        EndpointName = "submit-batch";
        ConcurrentMessageLimit = 8;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<SubmitBatchConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseMessageRetry(r => r.Exponential(5, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(200)));
    }
}
