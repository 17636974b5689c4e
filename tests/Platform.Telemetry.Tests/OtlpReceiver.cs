using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Platform.Telemetry.Tests;

/// <summary>One OTLP/HTTP export request as it arrived.</summary>
public sealed record OtlpRequest(string Path, string? ContentType, byte[] Body, DateTime ReceivedAt)
{
    public bool Contains(string text) => Body.AsSpan().IndexOf(System.Text.Encoding.UTF8.GetBytes(text)) >= 0;
}

/// <summary>
/// A stand-in OTLP/HTTP collector on a free loopback port: accepts POST /v1/traces and /v1/metrics (protobuf), keeps
/// the bodies and answers 200 with an empty export response, as a collector or Jaeger would.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    readonly WebApplication _app;
    readonly ConcurrentQueue<OtlpRequest> _requests = new();

    OtlpReceiver(WebApplication app)
    {
        _app = app;
    }

    public IReadOnlyList<OtlpRequest> Requests => [.. _requests];

    public Uri Endpoint { get; private set; } = null!;

    public static async Task<OtlpReceiver> Start()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();
        var receiver = new OtlpReceiver(app);
        app.MapPost("/v1/{signal}", async (string signal, HttpContext context) =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            receiver._requests.Enqueue(new OtlpRequest("/v1/" + signal, context.Request.ContentType, body.ToArray(), DateTime.UtcNow));
            return Results.Bytes([], "application/x-protobuf");
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Endpoint = new Uri(address);
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
