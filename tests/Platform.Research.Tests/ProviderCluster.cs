using System.Globalization;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Research.Tests;

/// <summary>A stand-in provider process and a platform whose workers run research on it (the platform's own credential).</summary>
sealed class ProviderCluster : IAsyncDisposable
{
    public const string PlatformKey = "sk-platform-research-tests";

    ProviderCluster(StandInProviderProcess standIn, PlatformCluster platform)
    {
        StandIn = standIn;
        Platform = platform;
    }

    public StandInProviderProcess StandIn { get; }
    public PlatformCluster Platform { get; }

    public static async Task<ProviderCluster> Start(string name, IReadOnlyDictionary<string, string>? settings = null, int workers = 1,
        IReadOnlyDictionary<string, string>? standInSettings = null)
    {
        var standIn = await StandInProviderProcess.Start(standInSettings);
        try
        {
            var environment = new Dictionary<string, string>
            {
                ["Platform__Provider__BaseUrl"] = standIn.BaseUrl.ToString(),
                ["Platform__Provider__ApiKey"] = PlatformKey,
                ["Platform__Provider__Model"] = "gpt-4o-mini",
                ["Platform__Worker__RetryBaseDelay"] = "00:00:00.200",
            };
            foreach (var (key, value) in settings ?? new Dictionary<string, string>())
                environment[key] = value;
            return new ProviderCluster(standIn, await PlatformCluster.Start(name, workers: workers, settings: environment));
        }
        catch
        {
            await standIn.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits until the batch has finished and returns its view.</summary>
    public static Task<JsonObject> Finished(HttpClient user, Guid batchId, TimeSpan timeout) =>
        Poll.Until(() => PlatformCluster.GetJson(user, $"/v1/batches/{batchId}"),
            view => view["status"]!.GetValue<string>() is "completed" or "completed_with_failures" or "cancelled", timeout, "the batch to finish");

    public static async Task<Dictionary<string, JsonObject>> Tasks(HttpClient user, Guid batchId) =>
        (await PlatformCluster.GetJson(user, $"/v1/batches/{batchId}/tasks?limit=100"))["items"]!.AsArray()
        .Select(t => t!.AsObject()).ToDictionary(t => t["key"]!.GetValue<string>());

    public static string Ms(TimeSpan span) => span.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        await Platform.DisposeAsync();
        await StandIn.DisposeAsync();
    }
}
