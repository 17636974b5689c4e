using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Secrets.Tests;

/// <summary>A platform on real processes whose provider is the stand-in, with a platform key of its own, and what the tests ask of it.</summary>
public sealed class Byok : IAsyncDisposable
{
    Byok(StandInProviderProcess provider, PlatformCluster cluster, string platformKey)
    {
        Provider = provider;
        Cluster = cluster;
        PlatformKey = platformKey;
    }

    public StandInProviderProcess Provider { get; }
    public PlatformCluster Cluster { get; }

    /// <summary>The platform's own provider key (<c>Platform__Provider__ApiKey</c>).</summary>
    public string PlatformKey { get; }

    /// <param name="name">The test's name: its database and vhost.</param>
    /// <param name="latencyMs">The stand-in's time per completion: long enough for a wave of tasks to overlap.</param>
    /// <param name="settings">More settings for every service.</param>
    public static async Task<Byok> Start(string name, int latencyMs, IReadOnlyDictionary<string, string>? settings = null, int workers = 2)
    {
        var provider = await StandInProviderProcess.Start(new Dictionary<string, string>
        {
            ["StandIn__LatencyMs"] = latencyMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["StandIn__LatencyPerTokenMs"] = "0",
        }, name: $"standin-{name}");
        var platformKey = $"sk-platform-{Guid.NewGuid():N}";
        var all = new Dictionary<string, string>
        {
            ["Platform__Provider__BaseUrl"] = provider.BaseUrl.ToString(),
            ["Platform__Provider__ApiKey"] = platformKey,
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
            all[key] = value;
        try
        {
            return new Byok(provider, await PlatformCluster.Start(name, orchestrators: 1, workers: workers, settings: all), platformKey);
        }
        catch
        {
            await provider.DisposeAsync();
            throw;
        }
    }

    /// <summary>A key the stand-in takes; unique, so that finding it anywhere means this test put it there.</summary>
    public static string NewUserKey(string label) => $"sk-user-{label}-{Guid.NewGuid():N}";

    public static async Task<(HttpStatusCode Status, JsonObject Body, string Text)> PutKey(HttpClient client, string userId, object body)
    {
        using var response = await client.PutAsJsonAsync($"/v1/users/{userId}/provider-key", body);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? [] : JsonNode.Parse(text) as JsonObject ?? [], text);
    }

    public static Task<JsonObject> User(HttpClient client, string userId) => PlatformCluster.GetJson(client, $"/v1/users/{userId}");

    /// <summary>Tasks that go to the provider (no <c>simulate</c> object).</summary>
    public static IEnumerable<object> Companies(int count) => Enumerable.Range(0, count).Select(i => new { company = $"Company {i}" });

    public async Task<string> WaitFinished(HttpClient user, Guid batch, TimeSpan timeout) =>
        await Poll.Until(async () => (await PlatformCluster.GetJson(user, $"/v1/batches/{batch}"))["status"]!.GetValue<string>(),
            s => s is "completed" or "completed_with_failures" or "cancelled", timeout, $"batch {batch} to finish\n{Cluster.Logs()}", TimeSpan.FromMilliseconds(250));

    /// <summary>Each task's run (start to end of its last attempt), from the rows.</summary>
    public Task<List<Interval>> Runs(string userId) =>
        Cluster.Query("SELECT task_id, batch_id, started_at, finished_at FROM tasks WHERE user_id = $1 AND finished_at IS NOT NULL",
            r => new Interval(r.GetGuid(0), r.GetGuid(1), r.GetFieldValue<DateTimeOffset>(2), r.GetFieldValue<DateTimeOffset>(3)), userId);

    public async Task ClearCalls()
    {
        using var http = new HttpClient { BaseAddress = Provider.Process.BaseAddress };
        (await http.DeleteAsync("/_standin/calls")).EnsureSuccessStatusCode();
    }

    public async ValueTask DisposeAsync()
    {
        await Cluster.DisposeAsync();
        await Provider.DisposeAsync();
    }
}
