using System.Buffers;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Platform.Intake.Auth;

namespace Platform.Intake.Streams;

/// <summary>
/// One <c>text/event-stream</c> response. Events go through a bounded buffer to a writer that owns the socket, so a
/// connection holds at most <see cref="StreamOptions.BufferedEvents"/> events: when the client reads too slowly for the
/// buffer to take an event, or one write waits longer than <see cref="StreamOptions.SendTimeout"/>, the client is
/// dropped (logged), never buffered for ever.
/// </summary>
public sealed partial class EventStreamConnection : IAsyncDisposable
{
    static readonly byte[] KeepAlive = Encoding.UTF8.GetBytes(": keep-alive\n\n");

    readonly HttpContext _http;
    readonly StreamOptions _options;
    readonly JsonSerializerOptions _json;
    readonly ILogger _logger;
    readonly string _what;
    readonly Channel<byte[]> _buffer;
    readonly CancellationTokenSource _closed;
    readonly Stopwatch _sinceLastEvent = Stopwatch.StartNew();
    readonly Stopwatch _sinceSignInChecked = Stopwatch.StartNew();
    Task _writer = Task.CompletedTask;
    int _dropped;

    public EventStreamConnection(HttpContext http, StreamOptions options, string what)
    {
        _http = http;
        _options = options;
        _what = what;
        _json = http.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        _logger = http.RequestServices.GetRequiredService<ILogger<EventStreamConnection>>();
        _buffer = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(options.BufferedEvents) { SingleReader = true, SingleWriter = true });
        // Ended when the instance stops, too: a stream would otherwise hold the shutdown for its whole timeout, and its
        // client reconnects (to any instance) with its last id and loses nothing.
        _closed = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted,
            http.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);
    }

    /// <summary>Cancelled once the client went away or was dropped, or the instance is stopping.</summary>
    public CancellationToken Closed => _closed.Token;

    /// <summary>Time since the last event or heartbeat was queued.</summary>
    public TimeSpan Idle => _sinceLastEvent.Elapsed;

    /// <summary>
    /// False once the user's key was rotated (or the user deleted): the request was authenticated once, at its start, so an
    /// open stream checks again, at most once a poll interval. The admin's key comes from configuration and is not re-read.
    /// </summary>
    public async Task<bool> StillSignedIn()
    {
        if (_sinceSignInChecked.Elapsed < _options.Poll)
            return true;
        _sinceSignInChecked.Restart();
        if (_http.User.UserId() is not { } userId || _http.User.FindFirst(ApiKeyAuthenticationHandler.KeyHashClaim)?.Value is not { } hash)
            return true;
        if (await _http.RequestServices.GetRequiredService<ApiKeysLookup>().UserOf(hash, Closed) == userId)
            return true;
        LogSignedOut(_logger, _what);
        return false;
    }

    public async Task Start()
    {
        var response = _http.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        // Proxies such as nginx otherwise hold the events back in their buffer.
        response.Headers["X-Accel-Buffering"] = "no";
        _http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        await response.StartAsync(Closed);
        _writer = Task.Run(Write, CancellationToken.None);
    }

    /// <summary>Queues one event; false when the connection is closed or the client was too slow to take it (then dropped).</summary>
    public async ValueTask<bool> Send(string name, string id, object data)
    {
        var text = $"id: {id}\nevent: {name}\ndata: {JsonSerializer.Serialize(data, data.GetType(), _json)}\n\n";
        return await Enqueue(Encoding.UTF8.GetBytes(text));
    }

    public ValueTask<bool> Heartbeat() => Enqueue(KeepAlive);

    /// <summary>Sends what is queued, then ends the response.</summary>
    public async Task Complete()
    {
        _buffer.Writer.TryComplete();
        await _writer;
    }

    async ValueTask<bool> Enqueue(byte[] bytes)
    {
        if (Closed.IsCancellationRequested)
            return false;
        _sinceLastEvent.Restart();
        if (_buffer.Writer.TryWrite(bytes))
            return true;

        using var wait = CancellationTokenSource.CreateLinkedTokenSource(Closed);
        wait.CancelAfter(_options.SendTimeout);
        try
        {
            await _buffer.Writer.WriteAsync(bytes, wait.Token);
            return true;
        }
        catch (OperationCanceledException) when (!Closed.IsCancellationRequested)
        {
            Drop($"its buffer of {_options.BufferedEvents} events stayed full for {_options.SendTimeoutSeconds} s");
            return false;
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            return false;
        }
    }

    async Task Write()
    {
        var body = _http.Response.BodyWriter;
        try
        {
            await foreach (var bytes in _buffer.Reader.ReadAllAsync(Closed))
            {
                // Copied into the pipe, not WriteAsync: that flushes too, and would wait for a stalled socket without a limit.
                body.Write(bytes);
                // A flush waits while the socket takes nothing (the client does not read); past the limit, drop it.
                var flush = body.FlushAsync(Closed);
                if (!flush.IsCompleted && !await Within(flush.AsTask(), _options.SendTimeout))
                {
                    Drop($"its socket took nothing for {_options.SendTimeoutSeconds} s");
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or InvalidOperationException)
        {
            // The client went away: nothing to send to.
        }
    }

    async Task<bool> Within(Task flush, TimeSpan limit)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(Closed);
        var delay = Task.Delay(limit, timer.Token);
        var first = await Task.WhenAny(flush, delay);
        await timer.CancelAsync();
        if (first == flush)
        {
            await flush;
            return true;
        }
        return Closed.IsCancellationRequested;
    }

    void Drop(string why)
    {
        // The writer (socket stalled) and the producer (buffer full) may both notice the same client: one drop, one line.
        if (Interlocked.Exchange(ref _dropped, 1) == 1)
            return;
        LogDropped(_logger, _what, _http.Connection.RemoteIpAddress?.ToString(), why);
        _http.Abort();
        _closed.Cancel();
    }

    public async ValueTask DisposeAsync()
    {
        _buffer.Writer.TryComplete();
        await _closed.CancelAsync();
        try
        {
            await _writer;
        }
        catch (OperationCanceledException)
        {
        }
        _closed.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Dropped a slow client of {Stream} ({Remote}): {Why}")]
    static partial void LogDropped(ILogger logger, string stream, string? remote, string why);

    [LoggerMessage(Level = LogLevel.Information, Message = "Ended the stream {Stream}: its API key was rotated")]
    static partial void LogSignedOut(ILogger logger, string stream);
}
