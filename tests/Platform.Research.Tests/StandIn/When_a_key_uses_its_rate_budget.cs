using Platform.StandInProvider;

namespace Platform.Research.Tests.StandIn;

/// <summary>The stand-in's budgets behave like OpenAI's: a minute's limit that refills continuously, per key.</summary>
public sealed class When_a_key_uses_its_rate_budget
{
    readonly ManualClock _clock = new();

    [Test]
    public void Should_refuse_the_request_over_the_limit_until_one_request_has_refilled()
    {
        var limiter = new RateLimiter(_clock, requestsPerMinute: 3, tokensPerMinute: 1_000_000);
        for (var i = 0; i < 3; i++)
            Assert.That(limiter.TryAcquire("sk-a", 10).Allowed, Is.True, $"request {i + 1} of 3");

        var refused = limiter.TryAcquire("sk-a", 10);
        Assert.Multiple(() =>
        {
            Assert.That(refused.Allowed, Is.False);
            Assert.That(refused.Exceeded, Is.EqualTo("requests"));
            Assert.That(refused.RemainingRequests, Is.Zero);
            Assert.That(refused.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(20))); // a minute's 3 requests: one each 20 s
            Assert.That(refused.ResetRequests, Is.EqualTo(TimeSpan.FromMinutes(1)));
        });

        _clock.Advance(TimeSpan.FromSeconds(19));
        Assert.That(limiter.TryAcquire("sk-a", 10).Allowed, Is.False, "19 s later");
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.That(limiter.TryAcquire("sk-a", 10).Allowed, Is.True, "20 s later");
    }

    [Test]
    public void Should_refuse_by_tokens_and_give_back_what_the_estimate_took_beyond_the_actual_use()
    {
        var limiter = new RateLimiter(_clock, requestsPerMinute: 100, tokensPerMinute: 1000);
        Assert.That(limiter.TryAcquire("sk-a", 900).Allowed, Is.True);

        var refused = limiter.TryAcquire("sk-a", 200);
        Assert.Multiple(() =>
        {
            Assert.That(refused.Allowed, Is.False);
            Assert.That(refused.Exceeded, Is.EqualTo("tokens"));
            Assert.That(refused.RemainingTokens, Is.EqualTo(100));
            Assert.That(refused.RetryAfter, Is.EqualTo(TimeSpan.FromSeconds(6))); // 100 more tokens at 1000 a minute
        });

        limiter.Settle("sk-a", estimated: 900, actual: 300);
        Assert.That(limiter.TryAcquire("sk-a", 200).Allowed, Is.True, "600 tokens given back");
    }

    [Test]
    public void Should_keep_each_key_s_budget_apart()
    {
        var limiter = new RateLimiter(_clock, requestsPerMinute: 1, tokensPerMinute: 1000);
        limiter.SetLimits("sk-big", requestsPerMinute: 5, tokensPerMinute: 1000);
        Assert.Multiple(() =>
        {
            Assert.That(limiter.TryAcquire("sk-a", 1).Allowed, Is.True);
            Assert.That(limiter.TryAcquire("sk-a", 1).Allowed, Is.False, "sk-a's one request is used");
            Assert.That(limiter.TryAcquire("sk-b", 1).Allowed, Is.True, "sk-b has a budget of its own");
            Assert.That(Enumerable.Range(0, 5).All(_ => limiter.TryAcquire("sk-big", 1).Allowed), Is.True, "sk-big's own limit");
        });
    }

    [TestCase(20, "20ms")]
    [TestCase(1000, "1s")]
    [TestCase(8640, "8.64s")]
    [TestCase(360_000, "6m0s")]
    [TestCase(3_723_000, "1h2m3s")]
    public void Should_write_resets_as_openai_does(int milliseconds, string expected) =>
        Assert.That(RateLimiter.FormatReset(TimeSpan.FromMilliseconds(milliseconds)), Is.EqualTo(expected));
}
