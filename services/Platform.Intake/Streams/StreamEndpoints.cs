using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Npgsql;
using Platform.Data;
using Platform.Data.Tiers;
using Platform.Intake.Auth;
using Platform.Intake.Endpoints;
using Platform.Intake.OpenApi;

namespace Platform.Intake.Streams;

/// <summary>
/// <c>GET /v1/batches/{id}/events</c> and <c>GET /v1/events</c>: server-sent events, level-triggered. A wake-up (a
/// message, or the poll) makes the stream read the database from its cursor; the events are what the rows say.
/// </summary>
public static partial class StreamEndpoints
{
    const string BatchStreamExample = "id: 0-00000000000000000000000000000000\nevent: progress\ndata: {\"batchId\":\"0193a5b2-7c4e-7d1a-9f3b-2a6c8e0d4f17\",\"status\":\"running\",\"total\":2,\"completed\":0,...}\n\n" +
        "id: 48213-0193a5b27c4f7e008a113c5d7e9f0a21\nevent: task\ndata: {\"taskId\":\"0193a5b2-7c4f-7e00-8a11-3c5d7e9f0a21\",\"batchId\":\"0193a5b2-7c4e-7d1a-9f3b-2a6c8e0d4f17\",\"key\":\"acme\",\"status\":\"completed\",\"attempts\":1,\"slot\":0,...}\n\n" +
        ": keep-alive\n\n" +
        "id: 48230-0193a5b27c4f7e008a113c5d7e9f0a22\nevent: finished\ndata: {\"batchId\":\"0193a5b2-7c4e-7d1a-9f3b-2a6c8e0d4f17\",\"status\":\"completed\",...}\n\n";

    const string QueueStreamExample = "id: q1\nevent: queue\ndata: {\"tier\":\"pro\",\"concurrency\":10,\"running\":1,\"queued\":4,\"slots\":[...],\"batches\":[...]}\n\n" +
        "id: q1\nevent: progress\ndata: {\"batchId\":\"0193a5b2-7c4e-7d1a-9f3b-2a6c8e0d4f17\",\"status\":\"running\",...}\n\n";

    const string FleetStreamExample = "id: f1\nevent: fleet\ndata: {\"capacity\":16,\"running\":11,\"workers\":[...],\"credentials\":[...],\"shares\":[...]}\n\n";

    // The fleet's view reads every user with work: the admin's stream reads it at most this often.
    static readonly TimeSpan FleetMinReadInterval = TimeSpan.FromSeconds(1);

    public static void MapStreamEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/admin/events", FleetEvents).RequireAuthorization(IntakeExtensions.AdminPolicy).WithTags("admin")
            .WithSummary("Stream the worker fleet")
            .WithDescription("Server-sent events (`text/event-stream`) for the admin: `fleet` (the data of `GET /v1/admin/fleet`, the first " +
                "100 users) at connect and whenever it changes, read at most once a second (woken by the platform's events, and at least " +
                "every 5 s for heartbeats and capacity). A fleet event supersedes the previous one, so a reconnect starts from the current " +
                "snapshot. A `: keep-alive` comment comes every 15 s; a client that stops reading is dropped.")
            .Produces<string>(StatusCodes.Status200OK, "text/event-stream")
            .WithMetadata(new ResponseDoc(StatusCodes.Status200OK, "The event stream.", FleetStreamExample));

        app.MapGet("/v1/batches/{batchId}/events", BatchEvents).RequireAuthorization(IntakeExtensions.UserPolicy).WithTags("batches")
            .WithSummary("Stream a batch's events")
            .WithDescription("Server-sent events (`text/event-stream`): `progress` at connect and whenever the batch's counters change " +
                "(the data of `GET /v1/batches/{batchId}`, at most about 4 a second), `task` once for each task that reaches a terminal state " +
                "(`taskId, batchId, key, status, attempts, slot, startedAt, finishedAt, error`), and `finished` (the final batch) last, after " +
                "which the response ends. Every event has an `id:`; reconnecting with `Last-Event-ID` (or `?lastEventId=`) sends what " +
                "followed it, each task exactly once. A `: keep-alive` comment comes every 15 s; a client that stops reading is dropped " +
                "(see docs/api.md, Event streams).")
            .Produces<string>(StatusCodes.Status200OK, "text/event-stream")
            .WithMetadata(new ResponseDoc(StatusCodes.Status200OK, "The event stream.", BatchStreamExample))
            .FieldProblem(StatusCodes.Status400BadRequest, "`batchId` is not a GUID, or `Last-Event-ID` is not an id this stream sent; `errors` names it.")
            .Problem(StatusCodes.Status404NotFound, "No such batch, or another user's (answered exactly alike; problem type `https://platform.local/problems/not-found`).");

        app.MapGet("/v1/events", QueueEvents).RequireAuthorization(IntakeExtensions.UserPolicy).WithTags("queue")
            .WithSummary("Stream the caller's queue")
            .WithDescription("Server-sent events (`text/event-stream`): `queue` (the data of `GET /v1/queue`) at connect and whenever it " +
                "changes, and `progress` (the data of `GET /v1/batches/{batchId}`) for each of the caller's batches whose counters " +
                "change, including its last change when it finishes; at most about 4 reads a second. A queue event supersedes the " +
                "previous one, so a reconnect (with any `Last-Event-ID`) starts from the current snapshot. A `: keep-alive` comment " +
                "comes every 15 s; a client that stops reading is dropped.")
            .Produces<string>(StatusCodes.Status200OK, "text/event-stream")
            .WithMetadata(new ResponseDoc(StatusCodes.Status200OK, "The event stream.", QueueStreamExample))
            .Problem(StatusCodes.Status404NotFound, "The caller's user no longer exists (problem type `https://platform.local/problems/not-found`).");
    }

    static async Task<IResult> BatchEvents(Guid batchId, HttpContext http, PlatformDbContext db, NpgsqlDataSource data, StreamSignals signals,
        IOptions<StreamOptions> options, IOptionsMonitor<TierOptions> tiers,
        [FromHeader(Name = "Last-Event-ID"), Description("Resume after this event id (what the last event received carried).")] string? lastEventIdHeader,
        [Description("The same as the `Last-Event-ID` header, for clients that cannot set headers.")] string? lastEventId,
        CancellationToken cancellationToken)
    {
        var batch = await BatchEndpoints.FindOwn(db, http, batchId, cancellationToken);
        if (batch is null)
            return Problems.NotFound($"batch {batchId} does not exist");

        var cursor = StreamCursor.Start;
        if ((lastEventIdHeader ?? lastEventId) is { } resume && !StreamCursor.TryParse(resume, out cursor))
            return Problems.Field("Last-Event-ID", $"Last-Event-ID '{Shorten(resume)}' is not an id of this stream (they look like 48213-0193a5b27c4f7e008a113c5d7e9f0a21)");

        var o = options.Value;
        using var waker = new Doorbell();
        // Watching before the first read: a change between that read and the watch would otherwise wait for the poll.
        using var watch = signals.WatchBatch(batchId, waker);
        await using var stream = new EventStreamConnection(http, o, $"batch {batchId}");
        var closed = stream.Closed;
        try
        {
            await stream.Start();
            BatchView? sent = null;
            var sinceRead = new Stopwatch();
            while (!closed.IsCancellationRequested)
            {
                sinceRead.Restart();
                var row = await db.Batches.AsNoTracking().SingleAsync(b => b.BatchId == batchId, closed);
                var view = await BatchProgress.View(db, row, tiers.CurrentValue, closed);
                if (view != sent)
                {
                    if (!await stream.Send("progress", cursor.ToString(), view))
                        break;
                    sent = view;
                }

                TaskEventPage page;
                do
                {
                    page = await TaskEvents.Read(data, batchId, cursor, o.PageSize, closed);
                    foreach (var (next, task) in page.Tasks)
                    {
                        if (!await stream.Send("task", next.ToString(), task))
                            return Results.Empty;
                        cursor = next;
                    }
                } while (page.Tasks.Count == o.PageSize);

                // The saga has counted every task, and every task's end is below the horizon and was sent above.
                if (view.FinishedAt is not null && !page.Open && !page.Settling)
                {
                    if (await stream.Send("finished", cursor.ToString(), view))
                        await stream.Complete();
                    break;
                }

                // Tasks ended by transactions not yet below the horizon are sent by a read soon after, message or not.
                if (!await Wait(stream, waker, o, page.Settling ? o.MinReadInterval : o.Poll, sinceRead))
                    break;
            }
        }
        catch (OperationCanceledException) when (closed.IsCancellationRequested)
        {
            // The client went away, or was dropped.
        }

        return Results.Empty;
    }

    static async Task<IResult> QueueEvents(HttpContext http, PlatformDbContext db, StreamSignals signals, IOptions<StreamOptions> options,
        IOptionsMonitor<TierOptions> tiers, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json, CancellationToken cancellationToken)
    {
        var userId = http.User.UserId()!;
        var first = await QueueEndpoints.Read(db, tiers.CurrentValue, userId, cancellationToken);
        if (first is null)
            return Problems.NotFound($"user '{userId}' does not exist");

        var o = options.Value;
        using var waker = new Doorbell();
        using var watch = signals.WatchUser(userId, waker);
        await using var stream = new EventStreamConnection(http, o, $"queue of {userId}");
        var closed = stream.Closed;
        try
        {
            await stream.Start();
            string? sentQueue = null;
            var batches = new Dictionary<Guid, QueueBatchView>();
            var sinceRead = new Stopwatch();
            long reads = 0;
            var view = first;
            while (!closed.IsCancellationRequested)
            {
                sinceRead.Restart();
                view ??= await QueueEndpoints.Read(db, tiers.CurrentValue, userId, closed);
                if (view is null)
                {
                    await stream.Complete();
                    break;
                }

                // One id per read: a queue event supersedes the previous one, so a resume needs only the current snapshot.
                var id = $"q{++reads}";
                var queue = JsonSerializer.Serialize(view, json.Value.SerializerOptions);
                if (queue != sentQueue)
                {
                    if (!await stream.Send("queue", id, view))
                        break;
                    sentQueue = queue;
                }

                // A batch that left the list finished (or fell past the list's limit): its last progress is sent once.
                var current = view.Batches.ToDictionary(b => b.BatchId);
                var changed = current.Values.Where(b => !batches.TryGetValue(b.BatchId, out var before) || before != b).Select(b => b.BatchId)
                    .Concat(batches.Keys.Where(b => !current.ContainsKey(b))).ToList();
                if (changed.Count > 0)
                {
                    var rows = await db.Batches.AsNoTracking().Where(b => changed.Contains(b.BatchId)).ToListAsync(closed);
                    foreach (var row in rows.OrderBy(b => b.CreatedAt))
                    {
                        if (!await stream.Send("progress", id, await BatchProgress.View(db, row, tiers.CurrentValue, closed)))
                            return Results.Empty;
                    }
                }
                batches = current;
                view = null;

                if (!await Wait(stream, waker, o, o.Poll, sinceRead))
                    break;
            }
        }
        catch (OperationCanceledException) when (closed.IsCancellationRequested)
        {
        }

        return Results.Empty;
    }

    static async Task<IResult> FleetEvents(HttpContext http, PlatformDbContext db, StreamSignals signals, IOptions<StreamOptions> options,
        IOptions<FleetOptions> fleetOptions, IOptionsMonitor<TierOptions> tiers, TimeProvider clock,
        IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json)
    {
        var o = options.Value;
        using var waker = new Doorbell();
        using var watch = signals.WatchAll(waker);
        await using var stream = new EventStreamConnection(http, o, "the admin's fleet");
        var closed = stream.Closed;
        try
        {
            await stream.Start();
            string? sent = null;
            long reads = 0;
            var sinceRead = new Stopwatch();
            while (!closed.IsCancellationRequested)
            {
                sinceRead.Restart();
                var view = await FleetEndpoints.Read(db, fleetOptions.Value, tiers.CurrentValue, clock.GetUtcNow(), FleetEndpoints.DefaultUsers, closed);
                var text = JsonSerializer.Serialize(view, json.Value.SerializerOptions);
                if (text != sent)
                {
                    if (!await stream.Send("fleet", $"f{++reads}", view))
                        break;
                    sent = text;
                }

                if (!await Wait(stream, waker, o, o.Poll, sinceRead, FleetMinReadInterval))
                    break;
            }
        }
        catch (OperationCanceledException) when (closed.IsCancellationRequested)
        {
        }

        return Results.Empty;
    }

    /// <summary>
    /// Waits for a wake-up or <paramref name="poll"/>, sending heartbeats meanwhile; then holds the next read back until
    /// <paramref name="minInterval"/> (by default <see cref="StreamOptions.MinReadInterval"/>) after the last one began,
    /// so a burst of wake-ups makes one read. False once the connection is closed, or its user's key was rotated.
    /// </summary>
    static async Task<bool> Wait(EventStreamConnection stream, Doorbell waker, StreamOptions o, TimeSpan poll, Stopwatch sinceRead,
        TimeSpan? minInterval = null)
    {
        var closed = stream.Closed;
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < poll)
        {
            var untilHeartbeat = o.Heartbeat - stream.Idle;
            if (untilHeartbeat <= TimeSpan.Zero)
            {
                if (!await stream.Heartbeat())
                    return false;
                continue;
            }

            var slice = poll - waited.Elapsed < untilHeartbeat ? poll - waited.Elapsed : untilHeartbeat;
            if (slice > TimeSpan.Zero && await waker.Wait(slice, closed))
                break;
        }

        var rest = (minInterval ?? o.MinReadInterval) - sinceRead.Elapsed;
        if (rest > TimeSpan.Zero)
            await Task.Delay(rest, closed);
        return !closed.IsCancellationRequested && await stream.StillSignedIn();
    }

    static string Shorten(string text) => text.Length <= 80 ? text : text[..80] + "…";
}
