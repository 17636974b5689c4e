using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace Platform.Cli.Api;

/// <summary>The public HTTP API, with every failure turned into a <see cref="CliException"/> whose exit code says what kind it was.</summary>
public sealed class PlatformApi : IDisposable
{
    readonly HttpClient _http;

    public PlatformApi(Uri baseAddress, string apiKey, TimeSpan timeout)
    {
        // Streams stay open for as long as a batch runs: the timeout applies per request through a token, not here.
        _http = new HttpClient { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("platform-cli", "1"));
        RequestTimeout = timeout;
    }

    public Uri BaseAddress => _http.BaseAddress!;
    public TimeSpan RequestTimeout { get; }

    public Task<JsonObject> Get(string path, CancellationToken cancellationToken) => Send(HttpMethod.Get, path, null, cancellationToken);

    public Task<JsonObject> Post(string path, object? body, CancellationToken cancellationToken, IReadOnlyDictionary<string, string>? headers = null) =>
        Send(HttpMethod.Post, path, body, cancellationToken, headers);

    public Task<JsonObject> Put(string path, object body, CancellationToken cancellationToken) => Send(HttpMethod.Put, path, body, cancellationToken);

    public Task<JsonObject> Delete(string path, CancellationToken cancellationToken) => Send(HttpMethod.Delete, path, null, cancellationToken);

    async Task<JsonObject> Send(HttpMethod method, string path, object? body, CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string>? headers = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
            request.Headers.TryAddWithoutValidation(name, value);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestTimeout);
        using var response = await Call(() => _http.SendAsync(request, timeout.Token), method, path, cancellationToken);
        var text = await Read(() => response.Content.ReadAsStringAsync(timeout.Token), method, path, cancellationToken);
        if (!response.IsSuccessStatusCode)
            throw Problem.From(response.StatusCode, method.Method, path, text);
        return text.Length == 0 ? [] : JsonNode.Parse(text) as JsonObject ?? new JsonObject { ["value"] = JsonNode.Parse(text) };
    }

    /// <summary>Opens a streamed answer (an event stream, an export): the caller reads and disposes it; a failure is thrown as usual.</summary>
    public async Task<HttpResponseMessage> Open(string path, IReadOnlyDictionary<string, string>? headers, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
            request.Headers.TryAddWithoutValidation(name, value);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestTimeout);
        var response = await Call(() => _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token), HttpMethod.Get, path,
            cancellationToken);
        if (response.IsSuccessStatusCode)
            return response;
        using (response)
        {
            var text = await Read(() => response.Content.ReadAsStringAsync(timeout.Token), HttpMethod.Get, path, cancellationToken);
            throw Problem.From(response.StatusCode, "GET", path, text);
        }
    }

    async Task<T> Call<T>(Func<Task<T>> call, HttpMethod method, string path, CancellationToken cancellationToken)
    {
        try
        {
            return await call();
        }
        catch (HttpRequestException ex)
        {
            throw Unreachable(method, path, ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CliException(ExitCodes.Unreachable,
                $"{method} {path}: {BaseAddress} did not answer within {RequestTimeout.TotalSeconds:0} s", inner: ex);
        }
    }

    Task<T> Read<T>(Func<Task<T>> read, HttpMethod method, string path, CancellationToken cancellationToken) =>
        Call(async () =>
        {
            try
            {
                return await read();
            }
            catch (IOException ex)
            {
                throw new HttpRequestException(ex.Message, ex);
            }
        }, method, path, cancellationToken);

    CliException Unreachable(HttpMethod method, string path, HttpRequestException ex)
    {
        var reason = ex.InnerException is SocketException socket ? socket.Message : ex.Message;
        return new CliException(ExitCodes.Unreachable, $"{method} {path}: cannot reach the API at {BaseAddress} ({reason})", inner: ex);
    }

    /// <summary>Whether a failure of a stream in progress is one a reconnect can cure (the connection, not the answer).</summary>
    public static bool IsTransient(Exception ex) => ex is HttpRequestException or IOException or CliException { ExitCode: ExitCodes.Unreachable or ExitCodes.Server };

    public void Dispose() => _http.Dispose();
}
