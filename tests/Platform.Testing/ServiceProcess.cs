using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.RegularExpressions;

namespace Platform.Testing;

/// <summary>A real Platform service started as its own OS process (the built service dll), as in production.</summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly ConcurrentQueue<string> _output = new();
    readonly TaskCompletionSource<int> _port = new(TaskCreationOptions.RunContinuationsAsynchronously);
    long _linesWritten;

    // Kestrel's own line once it has bound port 0 (ASP.NET Core's lifetime log): a port picked here and handed over would
    // be free only until something else took it, and with two test projects at once another service sometimes did.
    static readonly Regex Listening = new(@"Now listening on: http://127\.0\.0\.1:(\d+)", RegexOptions.Compiled);

    /// <summary>Lines kept per process (the oldest go first): room for a whole test's log at Information level.</summary>
    const int KeptLines = 20_000;

    ServiceProcess(string name, Process process)
    {
        Name = name;
        _process = process;
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Name { get; }
    /// <summary>The port the service listens on (known once it is ready: <see cref="Start"/> returns then).</summary>
    public int Port => _port.Task.IsCompletedSuccessfully ? _port.Task.Result : throw new InvalidOperationException($"{Name} is not listening yet");
    public Uri BaseAddress => new($"http://127.0.0.1:{Port}");
    public bool HasExited => _process.HasExited;
    public int Id => _process.Id;

    /// <summary>The exit code once <see cref="HasExited"/> (137 after <see cref="Kill"/>).</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Every line the service wrote to stdout and stderr so far (see <see cref="KeptLines"/>): what a secret scan reads.</summary>
    public IReadOnlyList<string> Output => [.. _output];

    /// <summary>How many lines the service wrote; equal to <see cref="Output"/>'s count unless the oldest were dropped.</summary>
    public long LinesWritten => Interlocked.Read(ref _linesWritten);

    /// <summary>The last lines the service wrote, for failure messages.</summary>
    public string Tail(int lines = 60) => string.Join('\n', _output.TakeLast(lines));

    /// <summary>Starts <c>services/{project}</c>'s built dll and waits until its readiness endpoint answers healthy.</summary>
    public static Task<ServiceProcess> Start(string project, string name, IReadOnlyDictionary<string, string> environment,
        TimeSpan? readyTimeout = null) =>
        StartBuilt(Path.Combine("services", project), name, environment, readyTimeout);

    /// <summary>Starts the built dll of the project in <paramref name="projectFolder"/> (relative to the repository root).</summary>
    public static async Task<ServiceProcess> StartBuilt(string projectFolder, string name, IReadOnlyDictionary<string, string> environment,
        TimeSpan? readyTimeout = null)
    {
        var project = Path.GetFileName(projectFolder);
        var dll = Path.Combine(LocalInfrastructure.RepositoryRoot, projectFolder, "bin", BuildConfiguration, "net10.0", project + ".dll");
        if (!File.Exists(dll))
            throw new FileNotFoundException($"{dll} is not built; build the solution first (the test project references it).", dll);

        var start = new ProcessStartInfo("dotnet", $"\"{dll}\"")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        start.Environment["ASPNETCORE_URLS"] = "http://127.0.0.1:0";
        start.Environment["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information";
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["OTEL_SERVICE_NAME"] = name;
        foreach (var (key, value) in environment)
            start.Environment[key] = value;

        var service = new ServiceProcess(name, Process.Start(start)!);
        try
        {
            await service.WaitReady(readyTimeout ?? TimeSpan.FromSeconds(60));
        }
        catch
        {
            await service.DisposeAsync();
            throw;
        }

        return service;
    }

    async Task WaitReady(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < timeout)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode} before it was ready:\n{Tail()}");
            if (!_port.Task.IsCompleted)
            {
                await Task.Delay(50);
                continue;
            }

            try
            {
                using var response = await http.GetAsync(new Uri(BaseAddress, "/health/ready"));
                if (response.StatusCode == HttpStatusCode.OK)
                    return;
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(50);
        }

        throw new TimeoutException(_port.Task.IsCompleted
            ? $"{Name} was not ready within {timeout.TotalSeconds:F0} s:\n{Tail()}"
            : $"{Name} did not say which port it listens on within {timeout.TotalSeconds:F0} s (Kestrel's \"Now listening on\" line, Microsoft.Hosting.Lifetime at Information):\n{Tail()}");
    }

    /// <summary>SIGKILL: the process dies mid-whatever, as in a crash.</summary>
    public async Task Kill()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
    }

    /// <summary>SIGSTOP: the process stops where it is (its rows stay as they are) until <see cref="Thaw"/> or a kill.</summary>
    public Task Freeze() => Signal("STOP");

    /// <summary>SIGCONT after <see cref="Freeze"/>.</summary>
    public Task Thaw() => Signal("CONT");

    async Task Signal(string signal)
    {
        using var kill = Process.Start("kill", $"-{signal} {_process.Id}");
        await kill.WaitForExitAsync();
    }

    /// <summary>SIGTERM, then wait for a graceful exit.</summary>
    public async Task Stop(TimeSpan timeout)
    {
        if (_process.HasExited)
            return;
        await Signal("TERM");
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            await Kill();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Stop(TimeSpan.FromSeconds(10));
        _process.Dispose();
    }

    void Keep(string? line)
    {
        if (line is null)
            return;
        _output.Enqueue(line);
        Interlocked.Increment(ref _linesWritten);
        if (!_port.Task.IsCompleted && Listening.Match(line) is { Success: true } listening)
            _port.TrySetResult(int.Parse(listening.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        while (_output.Count > KeptLines)
            _output.TryDequeue(out _);
    }

    public static string BuildConfiguration =>
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
            ? "Release"
            : "Debug";
}
