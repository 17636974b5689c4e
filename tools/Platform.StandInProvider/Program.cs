using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;
using Platform.StandInProvider;

var builder = WebApplication.CreateBuilder(args);
if (string.IsNullOrEmpty(builder.Configuration["urls"]))
    builder.WebHost.UseUrls("http://127.0.0.1:5199");
// A test tool that answers to any key listens on this machine only: refused before anything is bound.
if (builder.Configuration["urls"]?.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .FirstOrDefault(url => !IsLoopback(url)) is { } exposed)
    return Refuse(exposed);
builder.Services.AddOptions<StandInOptions>().BindConfiguration(StandInOptions.Section).ValidateDataAnnotations().ValidateOnStart();
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton(sp =>
{
    var o = sp.GetRequiredService<IOptions<StandInOptions>>().Value;
    return new RateLimiter(sp.GetRequiredService<TimeProvider>(), o.RequestsPerMinute, o.TokensPerMinute);
});
builder.Services.AddSingleton<Faults>();
builder.Services.AddSingleton<CallLog>();
builder.Services.AddSingleton<ChatCompletions>();

var app = builder.Build();

// And only this machine may talk to it.
app.Use(async (context, next) =>
{
    if (context.Connection.RemoteIpAddress is { } remote && !IPAddress.IsLoopback(remote))
    {
        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        return;
    }

    await next(context);
});

app.MapPost("/v1/chat/completions", (HttpContext http, ChatCompletions chat) => chat.Complete(http));
app.MapGet("/v1/models", (HttpContext http, ChatCompletions chat) => chat.Models(http));

app.MapPost("/_standin/faults", (Fault fault, Faults faults) =>
{
    faults.Add(fault);
    return Results.Accepted();
});
app.MapDelete("/_standin/faults", (Faults faults) =>
{
    faults.Clear();
    return Results.NoContent();
});
app.MapPost("/_standin/limits", (Limits limits, RateLimiter limiter) =>
{
    limiter.SetLimits(limits.Key, limits.RequestsPerMinute, limits.TokensPerMinute);
    return Results.NoContent();
});
app.MapGet("/_standin/calls", (CallLog calls) => Results.Json(calls.All()));
app.MapDelete("/_standin/calls", (CallLog calls) =>
{
    calls.Clear();
    return Results.NoContent();
});
app.MapGet("/health/live", () => Results.Ok("live"));
app.MapGet("/health/ready", () => Results.Ok("ready"));

await app.StartAsync();
// The backstop for endpoints configured another way (Kestrel:Endpoints).
var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
if (addresses.FirstOrDefault(address => !IsLoopback(address)) is { } bound)
{
    await app.StopAsync();
    return Refuse(bound);
}

await app.WaitForShutdownAsync();
return 0;

static bool IsLoopback(string url)
{
    var host = Uri.TryCreate(url.Replace("*", "wildcard", StringComparison.Ordinal).Replace("+", "wildcard", StringComparison.Ordinal),
        UriKind.Absolute, out var uri) ? uri.Host : "";
    return host == "localhost" || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
}

static int Refuse(string url)
{
    Console.Error.WriteLine($"The stand-in provider listens on loopback only; {url} is not (use --urls http://127.0.0.1:<port>).");
    return 2;
}

/// <summary><c>POST /_standin/limits</c>: a key's RPM and TPM, or every key's when <c>key</c> is null.</summary>
sealed record Limits(string? Key, int RequestsPerMinute, int TokensPerMinute);
