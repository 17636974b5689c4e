using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Secrets.Tests;

/// <summary>
/// A queue of our own in a test's virtual host, bound to every exchange there, so it receives a copy of every message
/// the run publishes or sends (RabbitMQ copies a message once per queue, however many routes lead to it).
/// </summary>
public sealed class MessageCapture
{
    const string Queue = "secret-scan-capture";
    readonly string _vhost;
    readonly HashSet<string> _bound = [];

    MessageCapture(string vhost)
    {
        _vhost = vhost;
    }

    public IReadOnlyCollection<string> Bound => _bound;

    /// <summary>Declares the queue and binds it to every exchange that exists now (the run's message types must exist by then).</summary>
    public static async Task<MessageCapture> Start(string rabbitMqConnectionString)
    {
        var capture = new MessageCapture(new Uri(rabbitMqConnectionString).AbsolutePath.Trim('/'));
        using var http = await LocalInfrastructure.ManagementClient();
        (await http.PutAsJsonAsync($"/api/queues/{capture._vhost}/{Queue}", new { durable = false, auto_delete = false })).EnsureSuccessStatusCode();
        foreach (var exchange in await capture.Exchanges(http))
        {
            (await http.PostAsJsonAsync($"/api/bindings/{capture._vhost}/e/{Uri.EscapeDataString(exchange)}/q/{Queue}", new { routing_key = "" }))
                .EnsureSuccessStatusCode();
            capture._bound.Add(exchange);
        }

        return capture;
    }

    /// <summary>Exchanges declared since <see cref="Start"/>: messages of theirs may have escaped the capture.</summary>
    public async Task<IReadOnlyList<string>> Unbound()
    {
        using var http = await LocalInfrastructure.ManagementClient();
        return [.. (await Exchanges(http)).Where(e => !_bound.Contains(e))];
    }

    /// <summary>Takes every captured message (payload and properties, headers included) as the management API renders it.</summary>
    public Task<IReadOnlyList<JsonObject>> Drain() => Take(Queue);

    /// <summary>Takes the messages of any queue of the vhost (e.g. an <c>_error</c> queue).</summary>
    public async Task<IReadOnlyList<JsonObject>> Take(string queue)
    {
        using var http = await LocalInfrastructure.ManagementClient();
        var messages = new List<JsonObject>();
        while (true)
        {
            using var response = await http.PostAsJsonAsync($"/api/queues/{_vhost}/{Uri.EscapeDataString(queue)}/get",
                new { count = 5000, ackmode = "ack_requeue_false", encoding = "auto", truncate = 10_000_000 });
            response.EnsureSuccessStatusCode();
            var batch = (await response.Content.ReadFromJsonAsync<JsonArray>())!.OfType<JsonObject>().ToList();
            messages.AddRange(batch);
            if (batch.Count < 5000)
                return messages;
        }
    }

    public async Task<IReadOnlyList<(string Name, long Messages)>> Queues()
    {
        using var http = await LocalInfrastructure.ManagementClient();
        var queues = await http.GetFromJsonAsync<JsonArray>($"/api/queues/{_vhost}");
        return [.. queues!.OfType<JsonObject>().Select(q => (q["name"]!.GetValue<string>(), q["messages"]?.GetValue<long>() ?? 0))];
    }

    async Task<List<string>> Exchanges(HttpClient http)
    {
        var exchanges = await http.GetFromJsonAsync<JsonArray>($"/api/exchanges/{_vhost}");
        return [.. exchanges!.OfType<JsonObject>().Select(e => e["name"]!.GetValue<string>()).Where(n => n.Length > 0 && !n.StartsWith("amq.", StringComparison.Ordinal))];
    }

    /// <summary>A message's text as scanned: payload, routing and properties (headers such as a fault's message).</summary>
    public static string Text(JsonObject message) => message.ToJsonString();

    public static long PayloadBytes(JsonObject message) => message["payload_bytes"]?.GetValue<long>() ?? Encoding.UTF8.GetByteCount(message["payload"]?.ToString() ?? "");
}
