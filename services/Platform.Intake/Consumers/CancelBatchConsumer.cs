using MassTransit;
using Platform.Contracts;
using Platform.Data;
using Platform.Data.Cancellation;

namespace Platform.Intake.Consumers;

/// <summary>
/// Internal services cancel over the bus with the same effect as <c>DELETE /v1/batches/{batchId}</c>. A redelivered or
/// repeated command changes nothing; one for an unknown batch, another user's or a finished one is logged and dropped
/// (there is no one to answer, and retrying it would never succeed).
/// </summary>
public sealed partial class CancelBatchConsumer(PlatformDbContext db, TimeProvider clock, ILogger<CancelBatchConsumer> logger) : IConsumer<CancelBatch>
{
    public async Task Consume(ConsumeContext<CancelBatch> context)
    {
        var m = context.Message;
        switch (await BatchCancellation.Request(db, m.BatchId, m.UserId, clock.GetUtcNow(), context.CancellationToken))
        {
            case CancelOutcome.Requested requested:
                LogRequested(logger, m.BatchId, m.UserId, requested.QueuedCancelled);
                break;
            case CancelOutcome.AlreadyRequested earlier:
                LogRepeated(logger, m.BatchId, earlier.RequestedAt);
                break;
            case CancelOutcome.AlreadyFinished finished:
                LogFinished(logger, m.BatchId, finished.Status);
                break;
            case CancelOutcome.NotFound:
                LogUnknown(logger, m.BatchId, m.UserId);
                break;
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "CancelBatch: batch {BatchId} of {UserId} is being cancelled ({Queued} queued task(s) ended)")]
    static partial void LogRequested(ILogger logger, Guid batchId, string userId, int queued);

    [LoggerMessage(Level = LogLevel.Information, Message = "CancelBatch: batch {BatchId} was already being cancelled (since {RequestedAt:O}); nothing to do")]
    static partial void LogRepeated(ILogger logger, Guid batchId, DateTimeOffset requestedAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CancelBatch: batch {BatchId} has already finished ({Status}); ignored")]
    static partial void LogFinished(ILogger logger, Guid batchId, string status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "CancelBatch: no batch {BatchId} of user {UserId}; ignored")]
    static partial void LogUnknown(ILogger logger, Guid batchId, string userId);
}

public sealed class CancelBatchConsumerDefinition : ConsumerDefinition<CancelBatchConsumer>
{
    public CancelBatchConsumerDefinition()
    {
        EndpointName = "cancel-batch";
        ConcurrentMessageLimit = 8;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<CancelBatchConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.UseMessageRetry(r => r.Exponential(5, TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(200)));
    }
}
