using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Platform.Cli.Api;
using Platform.Cli.Watching;

namespace Platform.Cli.Tests;

/// <summary>
/// The follower against a small server speaking the stream's wire format, which drops the first connection mid-batch:
/// the point is what the client sends on reconnect and what it makes of the replay (the real server's replay is the
/// streams tests' subject).
/// </summary>
public sealed class When_the_event_stream_drops
{
    [Test]
    public async Task Should_resume_after_the_last_event_id_and_see_every_task_once()
    {
        var resumedFrom = new ConcurrentQueue<string?>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var app = builder.Build();
        app.MapGet("/v1/batches/{id}/events", async (HttpContext http) =>
        {
            var last = http.Request.Headers["Last-Event-ID"].FirstOrDefault();
            resumedFrom.Enqueue(last);
            http.Response.ContentType = "text/event-stream";
            var from = last is null ? 1 : int.Parse(last, System.Globalization.CultureInfo.InvariantCulture) + 1;
            for (var i = from; i <= 6; i++)
            {
                await http.Response.WriteAsync($"id: {i}\nevent: task\ndata: {{\"key\":\"t{i}\",\"status\":\"completed\"}}\n\n");
                await http.Response.Body.FlushAsync();
                // The first connection ends after the third event, before `finished`, as a draining intake or a proxy's
                // idle cut ends it. (An abort, a TCP reset, may also discard events the client had not read yet: the
                // resume point would then be earlier, which is right but not what this test pins.)
                if (last is null && i == 3)
                    return;
            }

            await http.Response.WriteAsync("id: 7\nevent: finished\ndata: {\"status\":\"completed\",\"total\":6,\"completed\":6}\n\n");
        });
        await app.StartAsync();

        var observer = new Recorder();
        using var api = new PlatformApi(new Uri(app.Urls.First()), "pk_test", TimeSpan.FromSeconds(10));
        var finished = await new BatchFollower(api, observer).Follow("b1", CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(resumedFrom, Is.EqualTo(new[] { null, "3" }), "the reconnect names the last event it saw");
            Assert.That(observer.Tasks, Is.EqualTo(new[] { "t1", "t2", "t3", "t4", "t5", "t6" }));
            Assert.That(observer.Reconnects, Is.EqualTo(1));
            Assert.That(BatchFollower.Succeeded(finished), Is.True);
        });
    }

    sealed class Recorder : IBatchObserver
    {
        public List<string> Tasks { get; } = [];
        public int Reconnects { get; private set; }

        public void Progress(string batchId, JsonObject batch)
        {
        }

        public void Task(string batchId, JsonObject task) => Tasks.Add(task["key"]!.GetValue<string>());

        public void Reconnecting(string batchId, Exception reason, int attempt) => Reconnects++;
    }
}
