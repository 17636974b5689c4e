using System.Runtime.CompilerServices;
using System.Text;

namespace Platform.Cli.Watching;

public sealed record ServerSentEvent(string? Id, string Event, string Data);

/// <summary>The text/event-stream format (WHATWG HTML, "server-sent events"): fields per line, an empty line ends an event.</summary>
public static class ServerSentEvents
{
    /// <summary>
    /// The events of <paramref name="stream"/> until it ends. Nothing at all (not even the server's heartbeat comment)
    /// for <paramref name="idle"/> means the connection is dead though no one closed it: that throws <see cref="IOException"/>.
    /// </summary>
    public static async IAsyncEnumerable<ServerSentEvent> Read(Stream stream, TimeSpan idle, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8);
        string? id = null;
        var name = "message";
        var data = new StringBuilder();
        var hasData = false;
        while (true)
        {
            string? line;
            using (var quiet = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                quiet.CancelAfter(idle);
                try
                {
                    line = await reader.ReadLineAsync(quiet.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new IOException($"the event stream was silent for {idle.TotalSeconds:0} s");
                }
            }

            if (line is null)
                yield break;
            if (line.Length == 0)
            {
                if (hasData)
                    yield return new ServerSentEvent(id, name, data.ToString());
                name = "message";
                data.Clear();
                hasData = false;
                continue;
            }

            if (line[0] == ':')
                continue;
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var field = colon < 0 ? line : line[..colon];
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' '))
                value = value[1..];
            switch (field)
            {
                case "id" when !value.Contains('\0', StringComparison.Ordinal):
                    id = value;
                    break;
                case "event":
                    name = value;
                    break;
                case "data":
                    if (hasData)
                        data.Append('\n');
                    data.Append(value);
                    hasData = true;
                    break;
            }
        }
    }
}
