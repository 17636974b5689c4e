using System.Diagnostics;
using System.Text.Json;
using Platform.Contracts;
using Platform.Data.Model;

namespace Platform.Data.Outbox;

public static class OutboxSerializer
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static OutboxMessage ToOutbox<T>(T message) where T : class
    {
        var type = message.GetType();
        if (type.Assembly != typeof(TaskQueued).Assembly)
            throw new ArgumentException($"Only Platform.Contracts messages go through the outbox, not {type.FullName}.", nameof(message));

        return new OutboxMessage
        {
            MessageType = type.FullName!,
            Body = JsonSerializer.Serialize(message, type, Json),
            CreatedAt = DateTimeOffset.UtcNow,
            TraceParent = Activity.Current?.Id,
        };
    }

    public static (object Message, Type Type) FromOutbox(OutboxMessage row)
    {
        var type = typeof(TaskQueued).Assembly.GetType(row.MessageType, throwOnError: true)!;
        var message = JsonSerializer.Deserialize(row.Body, type, Json)
            ?? throw new InvalidOperationException($"Outbox message {row.Id} has an empty body.");
        return (message, type);
    }
}
