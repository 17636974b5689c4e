using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Platform.Testing;

namespace Platform.Streams.Tests;

/// <summary>
/// Twenty clients open the stream of a batch whose 10,000 cancelled tasks make megabytes of events, with a socket
/// buffer of 1 KiB, and never read. Each must be dropped once its socket has taken nothing for the limit (3 s here),
/// and the intake must not buffer the events meanwhile: its working set stays far below what they would take.
/// </summary>
[TestFixture]
public sealed class When_a_client_stops_reading
{
    const int Clients = 20;
    const int TaskCount = 10_000;

    // Bounded: a few hundred kilobytes per connection (its buffer of events, Kestrel's 64 KiB, one page of rows) and the
    // threads that serve them; measured +13 to +20 MiB over seven runs. With the buffer made large enough to take every
    // event (BufferedEvents 100000) the same run grew +33 MiB; buffering all twenty streams would take about 58 MiB.
    const long AllowedGrowthBytes = 24L * 1024 * 1024;
    static readonly TimeSpan DropDeadline = TimeSpan.FromSeconds(AssemblySetup.SendTimeoutSeconds + 15);

    static PlatformCluster Cluster => AssemblySetup.Cluster;

    readonly List<Socket> _sockets = [];
    readonly List<long> _workingSet = [];
    long _baseline;
    long _eventsBytes;
    TimeSpan _allDropped;
    Guid _batchId;

    [OneTimeSetUp]
    public async Task StallTwentyClients()
    {
        using var owner = await Cluster.CreateUser("stalled-user", "enterprise");
        var key = owner.DefaultRequestHeaders.Authorization!.Parameter!;
        _batchId = await PlatformCluster.SubmitBatch(owner, "never read",
            Enumerable.Range(0, TaskCount).Select(i => (object)new { company = $"Company {i}", simulate = new { durationMs = 60_000 } }));
        (await owner.DeleteAsync($"/v1/batches/{_batchId}")).EnsureSuccessStatusCode();
        await Poll.Until(async () => await Cluster.Scalar<long>("SELECT count(*) FROM tasks WHERE batch_id = $1 AND status = 'cancelled'", _batchId) == TaskCount,
            TimeSpan.FromSeconds(120), "every task to be cancelled");

        // What the whole stream weighs, read by a client that keeps up (it ends with finished).
        using (var reader = Cluster.Client(key))
        {
            reader.Timeout = TimeSpan.FromSeconds(120);
            _eventsBytes = (await reader.GetByteArrayAsync($"/v1/batches/{_batchId}/events")).LongLength;
        }

        using var intake = Process.GetProcessById(Cluster.Intake.Id);
        _baseline = Sample(intake);
        var intakeLines = Cluster.Intake.LinesWritten;
        var watch = Stopwatch.StartNew();
        for (var i = 0; i < Clients; i++)
            _sockets.Add(await OpenWithoutReading(Cluster.Intake.BaseAddress, $"/v1/batches/{_batchId}/events", key));

        var dropped = 0;
        while (watch.Elapsed < DropDeadline)
        {
            _workingSet.Add(Sample(intake));
            dropped = Cluster.Intake.Output.Count(l => l.Contains($"Dropped a slow client of batch {_batchId}", StringComparison.Ordinal));
            if (dropped >= Clients)
                break;
            await Task.Delay(100);
        }
        _allDropped = watch.Elapsed;
        Assert.That(dropped, Is.EqualTo(Clients), $"every stalled client was dropped within {DropDeadline.TotalSeconds} s\n{Cluster.Intake.Tail(30)}");
        Assert.That(Cluster.Intake.LinesWritten, Is.GreaterThan(intakeLines));
    }

    [OneTimeTearDown]
    public void Close()
    {
        foreach (var socket in _sockets)
            socket.Dispose();
    }

    [Test]
    public async Task Should_close_each_connection_before_the_stream_ends()
    {
        foreach (var socket in _sockets)
        {
            // Drain what the kernel held: the connection then ends (closed or reset) without ever reaching finished.
            var received = new MemoryStream();
            var buffer = new byte[64 * 1024];
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var ended = false;
            try
            {
                int read;
                while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, deadline.Token)) > 0)
                    received.Write(buffer, 0, read);
                ended = true;
            }
            catch (SocketException)
            {
                ended = true;
            }

            var text = Encoding.UTF8.GetString(received.ToArray());
            Assert.Multiple(() =>
            {
                Assert.That(ended, Is.True, "the server closed the connection");
                Assert.That(text, Does.Not.Contain("event: finished"), "dropped before the end");
                Assert.That(received.Length, Is.LessThan(_eventsBytes / 2), "it held far less than the stream");
            });
        }
    }

    [Test]
    public void Should_keep_the_intake_s_memory_flat_while_clients_stall()
    {
        var growth = _workingSet.Max() - _baseline;
        TestContext.Out.WriteLine($"stream {_eventsBytes / 1024} KiB; working set {_baseline / 1024 / 1024} MiB, at most +{growth / 1024 / 1024} MiB " +
            $"over {_workingSet.Count} samples; all {Clients} dropped after {_allDropped.TotalSeconds:F1} s");
        Assert.Multiple(() =>
        {
            Assert.That(_eventsBytes * Clients, Is.GreaterThan(AllowedGrowthBytes * 2), "buffering the streams would exceed the allowance");
            Assert.That(growth, Is.LessThan(AllowedGrowthBytes));
        });
    }

    static long Sample(Process process)
    {
        process.Refresh();
        return process.WorkingSet64;
    }

    static async Task<Socket> OpenWithoutReading(Uri intake, string path, string apiKey)
    {
        // The receive buffer is set before connecting, so the window the client offers stays small.
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 1024 };
        await socket.ConnectAsync(intake.Host, intake.Port);
        var request = $"GET {path} HTTP/1.1\r\nHost: {intake.Authority}\r\nAuthorization: Bearer {apiKey}\r\nAccept: text/event-stream\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None);
        return socket;
    }
}
