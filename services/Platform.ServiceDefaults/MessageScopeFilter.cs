using System.Diagnostics;
using MassTransit;
using Microsoft.Extensions.Logging;
using Platform.Contracts;

namespace Platform.ServiceDefaults;

/// <summary>
/// Every consumed Platform message puts its ids on the receive span (searchable in Jaeger) and in the logging scope, so
/// each log line written while handling it names the user, batch and task it was about.
/// </summary>
public sealed class MessageScopeFilter<T>(ILogger<MessageScopeFilter<T>> logger) : IFilter<ConsumeContext<T>>
    where T : class
{
    public async Task Send(ConsumeContext<T> context, IPipe<ConsumeContext<T>> next)
    {
        var ids = MessageIds.Of(context.Message);
        if (ids is null)
        {
            await next.Send(context);
            return;
        }

        Activity.Current.Tag(ids.UserId, ids.BatchId, ids.TaskId, ids.Tier, ids.Slot, ids.Attempt);
        using var scope = ids.BeginScope(logger);
        await next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("platform-message-scope");
}

/// <summary>The ids a Platform message carries (contracts have no base type, by design: one switch here instead).</summary>
public sealed record MessageIds(string? UserId, Guid? BatchId, Guid? TaskId, string? Tier = null, int? Slot = null, int? Attempt = null)
{
    public static MessageIds? Of(object message) => message switch
    {
        ExecuteTask m => new(m.UserId, m.BatchId, m.TaskId, m.Tier, m.Slot, m.Attempt),
        TaskQueued m => new(m.UserId, m.BatchId, m.TaskId, Attempt: m.Attempt),
        TaskStarted m => new(m.UserId, m.BatchId, m.TaskId, Slot: m.Slot, Attempt: m.Attempt),
        TaskCompleted m => new(m.UserId, m.BatchId, m.TaskId, Slot: m.Slot),
        TaskFailed m => new(m.UserId, m.BatchId, m.TaskId, Slot: m.Slot, Attempt: m.Attempts),
        TaskCancelled m => new(m.UserId, m.BatchId, m.TaskId, Slot: m.Slot),
        TaskRetrying m => new(m.UserId, m.BatchId, m.TaskId, Attempt: m.Attempts),
        SubmitBatch m => new(m.UserId, m.BatchId, null),
        BatchSubmitted m => new(m.UserId, m.BatchId, null),
        BatchRejected m => new(m.UserId, m.BatchId, null),
        CancelBatch m => new(m.UserId, m.BatchId, null),
        BatchProgressed m => new(m.UserId, m.BatchId, null),
        BatchFinished m => new(m.UserId, m.BatchId, null),
        UserTierChanged m => new(m.UserId, null, null, m.Tier),
        _ => null,
    };

    /// <summary>
    /// A logging scope with the ids. A message template rather than a dictionary, so that the simple console formatter
    /// prints it readably and the JSON formatter still writes each id as its own property.
    /// </summary>
    public IDisposable? BeginScope(ILogger logger) => (BatchId, TaskId) switch
    {
        ({ } batch, { } task) => logger.BeginScope("UserId:{UserId} BatchId:{BatchId} TaskId:{TaskId}", UserId, batch, task),
        ({ } batch, null) => logger.BeginScope("UserId:{UserId} BatchId:{BatchId}", UserId, batch),
        _ => logger.BeginScope("UserId:{UserId}", UserId),
    };
}
