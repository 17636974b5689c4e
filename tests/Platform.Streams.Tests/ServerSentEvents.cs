using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Platform.Streams.Tests;

public sealed record ServerSentEvent(string? Id, string Name, string Data)
{
    public JsonObject Json => JsonNode.Parse(Data)!.AsObject();

    public override string ToString() => $"{Name} {Id}";
}

/// <summary>A <c>text/event-stream</c> response read event by event, as a browser's EventSource would.</summary>
public sealed class EventStreamReader : IDisposable
{
    readonly HttpResponseMessage _response;
    readonly StreamReader _reader;

    EventStreamReader(HttpResponseMessage response, Stream body)
    {
        _response = response;
        _reader = new StreamReader(body, Encoding.UTF8);
    }

    public HttpStatusCode Status => _response.StatusCode;
    public string? ContentType => _response.Content.Headers.ContentType?.MediaType;

    /// <summary>Comment lines (<c>: keep-alive</c>) seen so far.</summary>
    public int Comments { get; private set; }

    /// <summary>The end of the response was read.</summary>
    public bool Ended { get; private set; }

    public static async Task<EventStreamReader> Open(HttpClient http, string path, string? lastEventId = null, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null)
            request.Headers.Add("Last-Event-ID", lastEventId);
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        return new EventStreamReader(response, await response.Content.ReadAsStreamAsync(cancellationToken));
    }

    /// <summary>The next event, or null once the server ended the response.</summary>
    public async Task<ServerSentEvent?> Next(CancellationToken cancellationToken)
    {
        string? id = null, name = null;
        var data = new StringBuilder();
        while (true)
        {
            var line = await _reader.ReadLineAsync(cancellationToken);
            if (line is null)
            {
                Ended = true;
                return null;
            }
            if (line.Length == 0)
            {
                if (name is not null || data.Length > 0)
                    return new ServerSentEvent(id, name ?? "message", data.ToString());
                continue;
            }
            if (line.StartsWith(':'))
            {
                Comments++;
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..].TrimStart(' ');
            switch (field)
            {
                case "id": id = value; break;
                case "event": name = value; break;
                case "data": data.Append(data.Length > 0 ? "\n" : "").Append(value); break;
            }
        }
    }

    public void Dispose()
    {
        _reader.Dispose();
        _response.Dispose();
    }
}
