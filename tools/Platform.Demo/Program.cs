using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

// The demo a newcomer sees: creates a pro user, submits one batch of research tasks over the public HTTP API, and
// shows the batch's live progress until it finishes. Every other task has no `simulate` and so runs on the platform's
// provider when one is configured (infra/demo.sh points the workers at the stand-in provider): real HTTP calls, with
// token usage.
// With --own-key-base-url (the stand-in's, from infra/demo.sh) a second pro user brings their own provider key and
// runs a batch on it with the tier's own-key slots.
//   Platform.Demo [--api URL] [--admin-key KEY] [--tasks N] [--timeout SECONDS] [--own-key-base-url URL]
// PLATFORM_API and Platform__AdminApiKey are read when the options are absent.
var api = Option("--api") ?? Environment.GetEnvironmentVariable("PLATFORM_API") ?? "http://127.0.0.1:55680";
var adminKey = Option("--admin-key") ?? Environment.GetEnvironmentVariable("Platform__AdminApiKey");
var taskCount = int.Parse(Option("--tasks") ?? "30", System.Globalization.CultureInfo.InvariantCulture);
var timeout = TimeSpan.FromSeconds(int.Parse(Option("--timeout") ?? "300", System.Globalization.CultureInfo.InvariantCulture));
var ownKeyBaseUrl = Option("--own-key-base-url");
if (string.IsNullOrEmpty(adminKey))
{
    await Console.Error.WriteLineAsync("[demo] no admin key: pass --admin-key or set Platform__AdminApiKey");
    return 2;
}

using var admin = Client(adminKey);
var userId = $"demo-{DateTime.UtcNow:yyyyMMdd-HHmmss}";
var user = await Send(admin, HttpMethod.Post, "/v1/users", new { userId, tier = "pro" });
var userKey = user["apiKey"]!.GetValue<string>();
Console.WriteLine($"[demo] created user {userId} (tier pro: {(await Send(admin, HttpMethod.Get, $"/v1/users/{userId}"))["concurrency"]} slots)");

using var client = Client(userKey);
string[] companies = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises", "Tyrell", "Cyberdyne", "Soylent",
    "Wonka", "Aperture", "Black Mesa", "Massive Dynamic", "Vandelay", "Oscorp", "Gringotts", "Monarch", "Nakatomi", "Pied Piper"];
var random = new Random(42);
var tasks = Enumerable.Range(0, taskCount).Select(i => new
{
    key = $"company-{i + 1:D3}",
    input = i switch
    {
        // One task fails once and is retried, so the demo shows what a transient provider error looks like.
        4 => (object)new { company = companies[i % companies.Length], simulate = new { durationMs = 1500, fail = "transient", failTimes = 1 } },
        _ when i % 2 == 0 => new { company = companies[i % companies.Length] },
        _ => new { company = companies[i % companies.Length], simulate = new { durationMs = random.Next(800, 3000) } },
    },
}).ToList();
var watch = Stopwatch.StartNew();
var accepted = await Send(client, HttpMethod.Post, "/v1/batches",
    new { name = "Demo: company research", instructions = "Research {company}: founding year, HQ", tasks });
var batchId = accepted["batchId"]!.GetValue<string>();
Console.WriteLine($"[demo] submitted batch {batchId} with {taskCount} tasks in {watch.ElapsedMilliseconds} ms; progress:");

var interactive = !Console.IsOutputRedirected;
var batch = await Follow(client, batchId, watch);
if (batch is null)
    return 1;
Console.WriteLine($"[demo] batch {batch["status"]} after {watch.Elapsed.TotalSeconds:0.0} s; the first results:");
var page = await Send(client, HttpMethod.Get, $"/v1/batches/{batchId}/tasks?limit=3");
foreach (var task in page["items"]!.AsArray())
    Console.WriteLine($"  {task!["key"]} (attempts {task["attempts"]}, slot {task["slot"]}): {task["result"]?.ToJsonString()}");
// One task that ran on the provider, if any did: its structured result and what the provider counted.
var researched = (await Send(client, HttpMethod.Get, $"/v1/batches/{batchId}/tasks?status=completed&limit=100"))["items"]!.AsArray()
    .FirstOrDefault(t => t?["usage"] is JsonObject);
if (researched is not null)
{
    Console.WriteLine($"[demo] {researched["key"]} ran on the provider ({researched["usage"]!["model"]}, " +
                      $"{researched["usage"]!["promptTokens"]} prompt + {researched["usage"]!["completionTokens"]} completion tokens):");
    Console.WriteLine($"  {researched["result"]?.ToJsonString()}");
    Console.WriteLine($"[demo] the batch used {batch["usage"]?["promptTokens"]} prompt + {batch["usage"]?["completionTokens"]} completion tokens");
}
else
{
    Console.WriteLine("[demo] no provider is configured (Platform__Provider__BaseUrl): every task ran on the simulated executor");
}

if (ownKeyBaseUrl is not null && researched is not null)
{
    // A user with their own provider key: checked against the provider, stored encrypted, shown back as a hint only.
    var ownId = $"{userId}-own-key";
    var own = await Send(admin, HttpMethod.Post, "/v1/users", new { userId = ownId, tier = "pro" });
    using var ownClient = Client(own["apiKey"]!.GetValue<string>());
    var ownKey = "sk-demo-own-" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
    var stored = await Send(ownClient, HttpMethod.Put, $"/v1/users/{ownId}/provider-key", new { apiKey = ownKey, baseUrl = ownKeyBaseUrl });
    var ownView = await Send(ownClient, HttpMethod.Get, $"/v1/users/{ownId}");
    Console.WriteLine($"[demo] created user {ownId} (tier pro) with their own provider key {stored["keyHint"]} ({stored["status"]}): " +
                      $"{ownView["concurrency"]} slots instead of the tier's 10");
    var ownTasks = Enumerable.Range(0, 40).Select(i => new { key = $"own-{i + 1:D3}", input = new { company = companies[i % companies.Length] } }).ToList();
    var ownWatch = Stopwatch.StartNew();
    var ownStarted = DateTimeOffset.UtcNow;
    var ownBatch = (await Send(ownClient, HttpMethod.Post, "/v1/batches",
        new { name = "Demo: on the user's own key", instructions = "Research {company}: founding year, HQ", tasks = ownTasks }))["batchId"]!.GetValue<string>();
    Console.WriteLine($"[demo] submitted batch {ownBatch} with {ownTasks.Count} provider tasks; progress:");
    var ownDone = await Follow(ownClient, ownBatch, ownWatch);
    if (ownDone is null)
        return 1;
    // The stand-in records the key of every call it answered: count this batch's calls made with the user's key.
    using var standIn = new HttpClient { BaseAddress = new Uri(ownKeyBaseUrl.Replace("/v1", "", StringComparison.Ordinal)) };
    var calls = (await standIn.GetFromJsonAsync<JsonArray>("/_standin/calls"))!
        .Where(c => c?["path"]?.GetValue<string>().EndsWith("/chat/completions", StringComparison.Ordinal) == true && c?["at"]?.GetValue<DateTimeOffset>() >= ownStarted)
        .ToList();
    Console.WriteLine($"[demo] the batch used {ownDone["usage"]?["promptTokens"]} prompt + {ownDone["usage"]?["completionTokens"]} completion tokens; " +
                      $"the stand-in answered {calls.Count} calls since it started, {calls.Count(c => c?["key"]?.GetValue<string>() == ownKey)} of them with {ownId}'s own key");
}

Console.WriteLine($"""
    [demo] try it yourself as {userId}:
      curl -H 'Authorization: Bearer {userKey}' {api}/v1/batches/{batchId}
      curl -H 'Authorization: Bearer {userKey}' '{api}/v1/batches/{batchId}/tasks?limit=5'
      curl -H 'Authorization: Bearer {userKey}' {api}/v1/queue
      curl -X DELETE -H 'Authorization: Bearer {userKey}' {api}/v1/batches/<a running batch>   # cancel
    """);
return 0;

// Shows a batch's progress until it ends; null when it did not end within the timeout.
async Task<JsonObject?> Follow(HttpClient http, string id, Stopwatch started)
{
    string? last = null;
    while (true)
    {
        var current = await Send(http, HttpMethod.Get, $"/v1/batches/{id}");
        var status = current["status"]!.GetValue<string>();
        var line = Render(current, started.Elapsed);
        if (interactive)
            Console.Write($"\r{line,-100}");
        else if (line[8..] != last?[8..])
            Console.WriteLine(line);
        last = line;
        if (status is "completed" or "completed_with_failures" or "cancelled")
        {
            if (interactive)
                Console.WriteLine();
            return current;
        }

        if (started.Elapsed > timeout)
        {
            await Console.Error.WriteLineAsync($"\n[demo] batch {id} did not finish within {timeout.TotalSeconds:0} s (status {status})");
            return null;
        }

        await Task.Delay(500);
    }
}

static string Render(JsonObject batch, TimeSpan elapsed)
{
    int Count(string name) => batch[name]!.GetValue<int>();
    var total = Count("total");
    var done = Count("completed") + Count("failed") + Count("cancelled");
    const int width = 30;
    var filled = total == 0 ? width : done * width / total;
    var eta = batch["etaSeconds"] is { } e ? $"eta {e.GetValue<double>():0}s" : "eta -";
    return $"{elapsed.TotalSeconds,6:0.0}s [{new string('#', filled)}{new string('.', width - filled)}] {done}/{total} " +
           $"{batch["status"]}: running {Count("running")}, queued {Count("queued")}, failed {Count("failed")}, {eta}";
}

HttpClient Client(string key)
{
    var http = new HttpClient { BaseAddress = new Uri(api), Timeout = TimeSpan.FromSeconds(30) };
    http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
    return http;
}

static async Task<JsonObject> Send(HttpClient http, HttpMethod method, string path, object? body = null)
{
    using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
    using var response = await http.SendAsync(request);
    var text = await response.Content.ReadAsStringAsync();
    if (!response.IsSuccessStatusCode)
        throw new HttpRequestException($"{method} {path} answered {(int)response.StatusCode}: {text}");
    return JsonNode.Parse(text)!.AsObject();
}

string? Option(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}
