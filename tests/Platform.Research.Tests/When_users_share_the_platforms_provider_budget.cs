using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Research.Tests;

/// <summary>
/// DESIGN.md invariants 8 and 9 (issue 15 (e)): the stand-in holds the platform's key to 360 requests and 60,000 tokens a
/// minute (and so is the platform configured); a starter and a pro user keep a backlog on it for 1 minute. The budget, not
/// the fleet, is what is short: the platform sends no more than the provider takes (429s at most 1 % of the calls), uses
/// at least 90 % of the tokens once the first minute's full buckets are spent, and splits them 3 : 10 by weight. Meanwhile
/// a third user with a key of their own runs 60 tasks at full speed on that key: they never wait for the platform's budget.
/// The limits are three times a small account's so that one minute holds as many calls (about 300) as three would.
/// </summary>
/// <remarks>
/// Both buckets (the stand-in's and the platform's) start full, so the first seconds spend a minute's worth at once; that is
/// the provider's own rule, and is left out of the steady-state figures: they are measured from when that burst is spent
/// (<see cref="SteadyFrom"/>; +13 s alone, +18 s beside another project, 2026-12-02) to the end.
/// </remarks>
[TestFixture]
public sealed class When_users_share_the_platforms_provider_budget
{
    const int Rpm = 360;
    const int Tpm = 60_000;
    static readonly TimeSpan RunFor = TimeSpan.FromSeconds(60);
    /// <summary>The measured window starts no earlier than this, and only once the first minute's full bucket is spent.</summary>
    static readonly TimeSpan Warmup = TimeSpan.FromSeconds(10);
    static readonly TimeSpan OwnKeyAt = TimeSpan.FromSeconds(30);

    ProviderCluster _cluster = null!;
    HttpClient _starter = null!, _pro = null!, _own = null!;
    string _ownKey = null!;
    DateTimeOffset _start, _end, _ownSubmitted, _ownFinished;
    JsonObject? _budgetWait;
    JsonObject _fleet = null!;
    IReadOnlyList<StandInCall> _calls = null!;

    [OneTimeSetUp]
    public async Task Run()
    {
        _cluster = await ProviderCluster.Start(nameof(When_users_share_the_platforms_provider_budget), new Dictionary<string, string>
        {
            ["Platform__Provider__Rpm"] = Rpm.ToString(CultureInfo.InvariantCulture),
            ["Platform__Provider__Tpm"] = Tpm.ToString(CultureInfo.InvariantCulture),
        });
        await _cluster.StandIn.SetLimits(Rpm, Tpm, ProviderCluster.PlatformKey);
        _starter = await _cluster.Platform.CreateUser("budget-starter", "starter");
        _pro = await _cluster.Platform.CreateUser("budget-pro", "pro");
        _own = await _cluster.Platform.CreateUser("budget-own", "pro");

        _start = DateTimeOffset.UtcNow;
        var starterBatch = await PlatformCluster.SubmitBatch(_starter, "starter backlog", Companies("s", 480));
        await PlatformCluster.SubmitBatch(_pro, "pro backlog", Companies("p", 1200));

        // While the platform's budget is spent: the starter's queued tasks say so, and the own-key user runs on its key.
        await Task.Delay(OwnKeyAt - (DateTimeOffset.UtcNow - _start));
        _budgetWait = await Poll.Until(async () => (await PlatformCluster.GetJson(_starter, $"/v1/batches/{starterBatch}/tasks?status=queued&limit=1"))
                ["items"]!.AsArray().FirstOrDefault()?["waitingFor"] as JsonObject,
            w => w?["reason"]?.GetValue<string>() == "provider_budget", TimeSpan.FromSeconds(15), "a queued task waiting for the provider budget",
            TimeSpan.FromMilliseconds(100));
        _ownKey = $"sk-user-budget-{Guid.NewGuid():N}";
        using (var put = await _own.PutAsJsonAsync("/v1/users/budget-own/provider-key", new { apiKey = _ownKey }))
            await PlatformCluster.EnsureSuccess(put);
        _ownSubmitted = DateTimeOffset.UtcNow;
        var ownBatch = await PlatformCluster.SubmitBatch(_own, "own key", Companies("o", 60));
        await ProviderCluster.Finished(_own, ownBatch, TimeSpan.FromSeconds(45));
        _ownFinished = DateTimeOffset.UtcNow;

        await Task.Delay(RunFor - (DateTimeOffset.UtcNow - _start));
        _end = DateTimeOffset.UtcNow;
        _calls = await _cluster.StandIn.Completions();
        using var admin = _cluster.Platform.Client();
        _fleet = await PlatformCluster.GetJson(admin, "/v1/admin/fleet");
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _starter?.Dispose();
        _pro?.Dispose();
        _own?.Dispose();
        await _cluster.DisposeAsync();
    }

    static IEnumerable<object> Companies(string prefix, int count) => Enumerable.Range(0, count).Select(i => new { company = $"{prefix} company {i}" });

    IEnumerable<StandInCall> PlatformCalls => _calls.Where(c => c.Key == ProviderCluster.PlatformKey && c.At <= _end);

    /// <summary>
    /// Where the steady state begins: the first call at which the key's last 5 s of tokens are within 10 % of the
    /// refill's rate, so the opening burst (both buckets start full) is spent; and no earlier than <see cref="Warmup"/>. A
    /// loaded machine drains that burst more slowly, and a fixed start would count the rest of it as steady state.
    /// </summary>
    DateTimeOffset SteadyFrom()
    {
        var span = TimeSpan.FromSeconds(5);
        var calls = PlatformCalls.Where(c => c.Status == (int)HttpStatusCode.OK).OrderBy(c => c.At).ToList();
        var trailing = new Queue<StandInCall>();
        double tokens = 0;
        foreach (var call in calls)
        {
            trailing.Enqueue(call);
            tokens += call.PromptTokens + call.CompletionTokens;
            while (trailing.Peek().At <= call.At - span)
            {
                var old = trailing.Dequeue();
                tokens -= old.PromptTokens + old.CompletionTokens;
            }

            if (call.At >= calls[0].At + span && tokens <= 1.1 * Tpm * span.TotalMinutes)
                return call.At > _start + Warmup ? call.At : _start + Warmup;
        }

        return _end;
    }

    [Test]
    public void Should_send_the_provider_no_more_than_it_takes()
    {
        var calls = PlatformCalls.ToList();
        var limited = calls.Count(c => c.Status == (int)HttpStatusCode.TooManyRequests);
        TestContext.Out.WriteLine($"{calls.Count} calls on the platform's key, {limited} answered 429 ({100.0 * limited / Math.Max(1, calls.Count):0.00} %)");
        foreach (var call in calls.Where(c => c.Status == (int)HttpStatusCode.TooManyRequests))
            TestContext.Out.WriteLine($"  429 at +{(call.At - _start).TotalSeconds:0.00} s: {call.Error}");
        Assert.Multiple(() =>
        {
            Assert.That(calls, Has.Count.GreaterThan(100), "the backlog hardly ran");
            Assert.That(limited, Is.LessThanOrEqualTo(calls.Count / 100), "more than 1 % of the calls were refused 429");
        });
    }

    [Test]
    public void Should_use_at_least_90_percent_of_the_token_budget()
    {
        var from = SteadyFrom();
        var minutes = (_end - from).TotalMinutes;
        var tokens = PlatformCalls.Where(c => c.Status == 200 && c.At > from).Sum(c => c.PromptTokens + c.CompletionTokens);
        var requests = PlatformCalls.Count(c => c.At > from);
        TestContext.Out.WriteLine($"from +{(from - _start).TotalSeconds:0.0} s (the opening burst spent): {tokens / minutes:0} tokens a minute ({100 * tokens / minutes / Tpm:0.0} % of {Tpm}), " +
                                  $"{requests / minutes:0.0} requests a minute (limit {Rpm}); {requests - Rpm * minutes:+0.0;-0.0;0.0} requests " +
                                  $"and {tokens - Tpm * minutes:+0;-0;0} tokens beyond the refill of {minutes * 60:0.0} s");
        Assert.Multiple(() =>
        {
            Assert.That(_end - from, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(30)), "the opening burst took most of the run");
            Assert.That(tokens / minutes, Is.GreaterThanOrEqualTo(0.9 * Tpm), "the budget was left unused");
            // A window holds the bucket's refill, plus what the bucket held when it began and the calls that bunch at its
            // edges (-5 to +5 calls measured): a surplus of fixed size, so the bounds are the refill plus a fixed part of a minute.
            Assert.That(tokens, Is.LessThanOrEqualTo(Tpm * minutes + 0.05 * Tpm), "more tokens than the budget allows");
            Assert.That(requests, Is.LessThanOrEqualTo(Rpm * minutes + 0.03 * Rpm), "more requests than the budget allows");
        });
    }

    [Test]
    public async Task Should_split_the_budget_by_weight()
    {
        var from = SteadyFrom();
        var tokens = await _cluster.Platform.Query("""
            SELECT user_id, sum(prompt_tokens + completion_tokens)::float8, count(*)::int FROM tasks
            WHERE status = 'completed' AND finished_at > $1 AND finished_at <= $2 AND user_id IN ('budget-starter', 'budget-pro')
            GROUP BY user_id
            """, r => (User: r.GetString(0), Tokens: r.GetDouble(1), Tasks: r.GetInt32(2)), from, _end);
        var total = tokens.Sum(t => t.Tokens);
        var starter = tokens.Single(t => t.User == "budget-starter");
        var share = starter.Tokens / total;
        const double fair = 3.0 / 13;
        foreach (var t in tokens)
            TestContext.Out.WriteLine($"{t.User}: {t.Tasks} tasks, {t.Tokens:0} tokens ({100 * t.Tokens / total:0.0} %)");
        TestContext.Out.WriteLine($"starter's share {100 * share:0.0} %, fair {100 * fair:0.0} % (error {100 * (share - fair) / fair:+0.0;-0.0;0.0} %)");
        Assert.That(share, Is.InRange(fair * 0.9, fair * 1.1), "the starter's share of the tokens is off its weight's by more than 10 %");
    }

    [Test]
    public async Task Should_run_a_user_with_their_own_key_at_full_speed()
    {
        var own = _calls.Where(c => c.Key == _ownKey).ToList();
        var rows = await _cluster.Platform.Query("""
            SELECT t.status, t.budget_credential_id = k.credential_id FROM tasks t JOIN provider_keys k ON k.user_id = t.user_id
            WHERE t.user_id = 'budget-own'
            """, r => (Status: r.GetString(0), OnOwnKey: r.GetBoolean(1)));
        var took = _ownFinished - _ownSubmitted;
        TestContext.Out.WriteLine($"60 tasks on the user's own key in {took.TotalSeconds:0.0} s ({own.Count} calls, {own.Count(c => c.Status == 429)} answered 429), " +
                                  $"while the platform's budget let {PlatformCalls.Count(c => c.At >= _ownSubmitted && c.At <= _ownFinished)} calls through");
        TestContext.Out.WriteLine($"waitingFor meanwhile: {_budgetWait?.ToJsonString()}");
        Assert.Multiple(() =>
        {
            Assert.That(rows.Select(r => r.Status).ToList(), Has.Count.EqualTo(60).And.All.EqualTo("completed"));
            Assert.That(rows.Select(r => r.OnOwnKey), Is.All.True, "a task reserved the platform's budget");
            Assert.That(own.Count(c => c.Status == 429), Is.Zero);
            // On the platform's budget, shared 10 : 23 with the two backlogs, 60 tasks would take about 25 s.
            Assert.That(took, Is.LessThan(TimeSpan.FromSeconds(15)), "the own-key user waited");
        });
    }

    [Test]
    public void Should_say_why_a_task_waits_and_show_the_budgets()
    {
        TestContext.Out.WriteLine(_budgetWait?.ToJsonString());
        TestContext.Out.WriteLine(_fleet["credentials"]!.ToJsonString());
        var credentials = _fleet["credentials"]!.AsArray().Select(c => c!.AsObject()).ToList();
        var platform = credentials.Single(c => c["keyHint"]?.GetValue<string>() == "…" + ProviderCluster.PlatformKey[^4..]);
        var own = credentials.Single(c => c["keyHint"]?.GetValue<string>() == "…" + _ownKey[^4..]);
        Assert.Multiple(() =>
        {
            Assert.That(_budgetWait!["detail"]!.GetValue<string>(), Does.Match("the provider's (token|request) budget .* refills at \\d\\d:\\d\\d:\\d\\d UTC|paused until"));
            Assert.That(_budgetWait["notBefore"], Is.Not.Null);
            Assert.That(platform["rpm"]!.GetValue<int>(), Is.EqualTo(Rpm));
            Assert.That(platform["tpm"]!.GetValue<int>(), Is.EqualTo(Tpm));
            Assert.That(platform["tokensUsed"]!.GetValue<int>(), Is.InRange(Tpm / 2, Tpm + 2_000), "a backlogged budget holds about its minute");
            // Learned from the stand-in's headers (its defaults): nothing configured them.
            Assert.That(own["rpm"]!.GetValue<int>(), Is.EqualTo(500));
            Assert.That(own["tpm"]!.GetValue<int>(), Is.EqualTo(200_000));
            Assert.That(_fleet.ToJsonString(), Does.Not.Contain(ProviderCluster.PlatformKey).And.Not.Contain(_ownKey));
        });
    }
}
