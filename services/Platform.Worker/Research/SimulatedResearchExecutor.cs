using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Platform.Worker.Execution;

namespace Platform.Worker.Research;

/// <summary>
/// Walks search → extract → analyze → save with realistic latency and a deterministic result. A task's input may hold
/// <c>simulate: {durationMs, fail: "transient"|"permanent"|"crash", failTimes}</c> for demos, load tests and fault drills.
/// </summary>
public sealed class SimulatedResearchExecutor : IResearchExecutor
{
    static readonly string[] Stages = ["search", "extract", "analyze", "save"];

    public async Task<ResearchOutcome> Execute(ResearchRequest request, IProgress<string> stage, CancellationToken cancellationToken)
    {
        var seed = Seed(request.Key);
        var (durationMs, fail, failTimes) = SimulatedRun.Read(request.Input, defaultDurationMs: 600 + (int)(seed % 900));

        // Each stage ends at its share of the whole duration from the start, so the timers' lateness (a millisecond or
        // more per wake-up on a busy machine) does not add up over the stages: the task takes durationMs.
        var started = Stopwatch.GetTimestamp();
        var startedAt = DateTimeOffset.UtcNow;
        for (var i = 0; i < Stages.Length; i++)
        {
            var name = Stages[i];
            using var span = WorkerTelemetry.StartStage(name);
            stage.Report(name);
            var stageEnd = TimeSpan.FromMilliseconds(durationMs * (i + 1) / (double)Stages.Length);
            var remaining = stageEnd - Stopwatch.GetElapsedTime(started);
            if (remaining > TimeSpan.Zero)
                await Task.Delay(remaining, cancellationToken);
            else
                cancellationToken.ThrowIfCancellationRequested();

            // Fail in "analyze", after real work was done, like a provider timing out mid-task.
            if (name == "analyze" && fail is not null && request.Attempt <= failTimes)
            {
                span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, $"simulated {fail} failure");
                throw fail switch
                {
                    "transient" => new ResearchFailedException($"simulated transient failure (attempt {request.Attempt})", transient: true),
                    "permanent" => new ResearchFailedException("simulated permanent failure", transient: false),
                    // Not a research outcome: an ordinary exception, as a bug would throw (the fault path's drill).
                    "crash" => new InvalidOperationException($"simulated crash (attempt {request.Attempt})"),
                    _ => new ResearchFailedException($"unknown simulate.fail '{fail}'", transient: false),
                };
            }
        }

        var prompt = Instructions.Fill(request.Instructions, request.Input);
        return new ResearchOutcome(new JsonObject
        {
            ["summary"] = $"Simulated research: {prompt}",
            ["confidence"] = Math.Round(0.5 + seed % 50 / 100.0, 2),
            ["sources"] = new JsonArray($"https://example.org/search?q={Uri.EscapeDataString(request.Key)}"),
            ["stages"] = new JsonArray(Stages.Select(s => (JsonNode)JsonValue.Create(s)).ToArray()),
            // When the simulated work itself ran: the benchmark measures a slot's idle time between two tasks from these.
            ["ran"] = new JsonObject { ["from"] = startedAt, ["to"] = DateTimeOffset.UtcNow },
        }, Usage: null);
    }

    static uint Seed(string key) => BitConverter.ToUInt32(SHA256.HashData(Encoding.UTF8.GetBytes(key)), 0);
}
