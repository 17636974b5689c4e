using System.Diagnostics.Metrics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Platform.Data;
using Platform.Data.Tiers;
using Platform.Dispatch;
using Platform.ServiceDefaults;

namespace Platform.Orchestrator.Dispatch;

public sealed class QueueGaugeOptions
{
    public const string Section = "Platform:Metrics";

    /// <summary>How often the queued/running counts per tier are read from the task rows (only while metrics are exported).</summary>
    public TimeSpan QueueSampleInterval { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Tasks queued and running per tier, as gauges read from the task rows (the truth), not summed from events, so a
/// restarted process or a lost message never skews them. Every orchestrator instance reports the same figures:
/// aggregate them with max, not sum. The count is one grouped query per interval, and only while a meter listener
/// (the OTLP exporter) is attached.
/// </summary>
public sealed partial class QueueGauges : BackgroundService
{
    readonly IServiceScopeFactory _scopes;
    readonly IOptions<QueueGaugeOptions> _options;
    readonly IOptionsMonitor<TierOptions> _tiers;
    readonly ILogger<QueueGauges> _logger;
    readonly ObservableGauge<long> _queued;
    readonly ObservableGauge<long> _running;
    volatile IReadOnlyList<TierCount>? _counts; // null until the first sample: nothing is reported before it

    public QueueGauges(IServiceScopeFactory scopes, IOptions<QueueGaugeOptions> options, IOptionsMonitor<TierOptions> tiers,
        ILogger<QueueGauges> logger)
    {
        _scopes = scopes;
        _options = options;
        _tiers = tiers;
        _logger = logger;
        _queued = DispatchTelemetry.Meter.CreateObservableGauge("platform.tasks.queued", () => Measure("queued"), "{task}",
            "Tasks waiting for a slot (including those waiting for a retry time), per tier");
        _running = DispatchTelemetry.Meter.CreateObservableGauge("platform.tasks.running", () => Measure("running"), "{task}",
            "Tasks holding a slot (dispatched or running), per tier");
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.Value.QueueSampleInterval);
        do
        {
            if (!_queued.Enabled && !_running.Enabled)
                continue;
            try
            {
                await using var scope = _scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
                _counts = await db.Database.SqlQuery<TierCount>($"""
                    SELECT u.tier AS "Tier", t.status AS "Status", count(*) AS "Count"
                    FROM tasks t JOIN users u ON u.user_id = t.user_id
                    WHERE t.status IN ('queued', 'running')
                    GROUP BY u.tier, t.status
                    """).ToListAsync(stoppingToken);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogSampleFailed(_logger, ex);
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    // Every configured tier, 0 when it has no such task: a series that vanishes when the queue drains reads as "no data"
    // on a dashboard, not as an empty queue.
    IEnumerable<Measurement<long>> Measure(string status)
    {
        if (_counts is not { } sampled)
            return [];

        var counts = sampled.Where(c => c.Status == status).ToDictionary(c => c.Tier, c => c.Count, StringComparer.OrdinalIgnoreCase);
        var tiers = _tiers.CurrentValue.Tiers.Keys.Union(counts.Keys, StringComparer.OrdinalIgnoreCase);
        return tiers.Select(tier => new Measurement<long>(counts.GetValueOrDefault(tier), new KeyValuePair<string, object?>(PlatformTags.Tier, tier)));
    }

    public sealed record TierCount(string Tier, string Status, long Count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the queued/running gauges failed; the next interval retries")]
    static partial void LogSampleFailed(ILogger logger, Exception exception);
}
