using System.Text.Json.Nodes;
using Platform.Cli.Api;

namespace Platform.Cli.Watching;

/// <summary>What a follower reports while a batch runs.</summary>
public interface IBatchObserver
{
    void Progress(string batchId, JsonObject batch);
    void Task(string batchId, JsonObject task);
    void Reconnecting(string batchId, Exception reason, int attempt);
}

/// <summary>
/// Follows one batch's event stream (<c>GET /v1/batches/{id}/events</c>) until its <c>finished</c> event, reconnecting
/// with <c>Last-Event-ID</c> after a dropped connection so the server replays exactly what was missed.
/// </summary>
public sealed class BatchFollower(PlatformApi api, IBatchObserver observer)
{
    /// <summary>Three of the server's 15 s heartbeats missed: the connection is dead even if no one closed it.</summary>
    public static readonly TimeSpan Idle = TimeSpan.FromSeconds(45);

    /// <summary>Reconnects in a row without one event received before the watch gives up (exit 3).</summary>
    public const int MaxAttempts = 8;

    public async Task<JsonObject> Follow(string batchId, CancellationToken cancellationToken)
    {
        var path = $"/v1/batches/{Uri.EscapeDataString(batchId)}/events";
        string? lastEventId = null;
        var attempt = 0;
        while (true)
        {
            try
            {
                var headers = new Dictionary<string, string> { ["Accept"] = "text/event-stream" };
                if (lastEventId is not null)
                    headers["Last-Event-ID"] = lastEventId;
                using var response = await api.Open(path, headers, cancellationToken);
                await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
                await foreach (var e in ServerSentEvents.Read(stream, Idle, cancellationToken))
                {
                    attempt = 0;
                    lastEventId = e.Id ?? lastEventId;
                    var data = JsonNode.Parse(e.Data) as JsonObject ?? [];
                    switch (e.Event)
                    {
                        case "progress":
                            observer.Progress(batchId, data);
                            break;
                        case "task":
                            observer.Task(batchId, data);
                            break;
                        case "finished":
                            observer.Progress(batchId, data);
                            return data;
                    }
                }

                throw new IOException("the server ended the event stream before the batch finished");
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && PlatformApi.IsTransient(ex) && attempt < MaxAttempts)
            {
                attempt++;
                observer.Reconnecting(batchId, ex, attempt);
                // 0.5, 1, 2, 4 … s, at most 10: quick after a blip, gentle while an intake restarts.
                await System.Threading.Tasks.Task.Delay(TimeSpan.FromMilliseconds(Math.Min(10_000, 500 * (1 << (attempt - 1)))), cancellationToken);
            }
            catch (Exception ex) when (ex is HttpRequestException or IOException)
            {
                throw new CliException(ExitCodes.Unreachable, $"batch {batchId}: the event stream failed {attempt} times in a row ({ex.Message})", inner: ex);
            }
        }
    }

    public static bool Succeeded(JsonObject batch) => batch["status"]?.GetValue<string>() == "completed";

    public static bool IsFinished(string? status) => status is "completed" or "completed_with_failures" or "cancelled";
}
