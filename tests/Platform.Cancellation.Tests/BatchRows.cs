using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Cancellation.Tests;

public sealed record TaskRow(Guid TaskId, string Status, int Attempts, int? Slot, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, bool Counted);

public sealed record SagaRow(string State, int Total, int Completed, int Failed, int Cancelled, bool Finished);

/// <summary>What the assertions read: the rows (the truth) of one batch, its saga and its user, and the HTTP answers.</summary>
public static class BatchRows
{
    public static Task<List<TaskRow>> Tasks(PlatformCluster cluster, Guid batchId) =>
        cluster.Query("SELECT task_id, status, attempts, slot, started_at, finished_at, counted FROM tasks WHERE batch_id = $1 ORDER BY seq",
            r => new TaskRow(r.GetGuid(0), r.GetString(1), r.GetInt32(2), r.IsDBNull(3) ? null : r.GetInt32(3),
                r.IsDBNull(4) ? null : r.GetFieldValue<DateTimeOffset>(4), r.IsDBNull(5) ? null : r.GetFieldValue<DateTimeOffset>(5), r.GetBoolean(6)),
            batchId);

    public static async Task<SagaRow> Saga(PlatformCluster cluster, Guid batchId) =>
        (await cluster.Query("SELECT current_state, total, completed, failed, cancelled, finished_at IS NOT NULL FROM batch_states WHERE correlation_id = $1",
            r => new SagaRow(r.GetString(0), r.GetInt32(1), r.GetInt32(2), r.GetInt32(3), r.GetInt32(4), r.GetBoolean(5)), batchId)).Single();

    public static async Task<(int Used, int Reserved)> Usage(PlatformCluster cluster, string userId) =>
        (await cluster.Query("SELECT used_this_month, reserved FROM users WHERE user_id = $1", r => (r.GetInt32(0), r.GetInt32(1)), userId)).Single();

    /// <summary>Tasks of the batch that a worker has started (claimed) and that are still running.</summary>
    public static Task<long> StartedAndRunning(PlatformCluster cluster, Guid batchId) =>
        cluster.Scalar<long>("SELECT count(*) FROM tasks WHERE batch_id = $1 AND status = 'running' AND started_at IS NOT NULL", batchId);

    public static async Task<(HttpStatusCode Status, JsonObject? Body, string? MediaType)> Delete(HttpClient user, Guid batchId)
    {
        using var response = await user.DeleteAsync($"/v1/batches/{batchId}");
        var body = response.Content.Headers.ContentLength is 0 ? null : await response.Content.ReadFromJsonAsync<JsonObject>();
        return (response.StatusCode, body, response.Content.Headers.ContentType?.MediaType);
    }

    public static async Task<string> Status(HttpClient user, Guid batchId) =>
        (await PlatformCluster.GetJson(user, $"/v1/batches/{batchId}"))["status"]!.GetValue<string>();

    /// <summary>Waits for the batch's API status; on a timeout the message carries every service's last lines.</summary>
    public static async Task WaitForStatus(PlatformCluster cluster, HttpClient user, Guid batchId, string status, TimeSpan timeout)
    {
        try
        {
            await Poll.Until(() => Status(user, batchId), s => s == status, timeout, $"batch {batchId} to be {status}");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + "\n" + cluster.Logs(), ex);
        }
    }

    public static IEnumerable<object> Inputs(int count, int durationMs) =>
        Enumerable.Range(0, count).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs } });
}
