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
        var request = new BatchRequest
        {
            Name = m.Name,
            Instructions = m.Instructions,
            Tasks = m.Tasks?.Select(t => new TaskRequest
            {
                Key = t.Key,
                Input = t.Input is null ? null : System.Text.Json.JsonSerializer.SerializeToNode(t.Input) as System.Text.Json.Nodes.JsonObject,
            }).ToList(),
        };

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
        {
            var rejected = new BatchRejected(m.BatchId, m.UserId, r.Item1, r.Item2.ToDictionary(e => e.Key, e => e.Value), DateTimeOffset.UtcNow);
            if (context.RequestId is not null)
                await context.RespondAsync(rejected);
            await context.Publish(rejected);
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
