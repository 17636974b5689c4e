using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Platform.Testing;
using Platform.Worker.Research;

namespace Platform.Research.Tests.Executor;

/// <summary>
/// The OpenAI-compatible executor against the stand-in process, one call at a time: what each kind of provider answer
/// becomes (transient or not, the hint, a rejected credential) and that no message ever carries the key.
/// </summary>
[TestFixture]
public sealed class When_the_executor_meets_provider_errors
{
    const string Key = "sk-executor-tests-0123456789";
    StandInProviderProcess _standIn = null!;
    OpenAiResearchExecutor _executor = null!;

    [OneTimeSetUp]
    public async Task StartStandIn()
    {
        _standIn = await StandInProviderProcess.Start();
        _executor = Executor(TimeSpan.FromSeconds(2));
    }

    [OneTimeTearDown]
    public async Task Stop()
    {
        _executor.Dispose();
        await _standIn.DisposeAsync();
    }

    // A test that failed before its call must not leave its fault to the next test.
    [SetUp]
    public Task ClearFaults() => _standIn.ClearFaults();

    static OpenAiResearchExecutor Executor(TimeSpan timeout) =>
        new(Options.Create(new ProviderOptions { Timeout = timeout, MaxOutputTokens = 512 }), NullLogger<OpenAiResearchExecutor>.Instance);

    Task<ResearchOutcome> Run(string key = Key, Uri? baseUrl = null) => _executor.Execute(
        new ResearchRequest(Guid.NewGuid(), "k", "Research {company}", new JsonObject { ["company"] = "Acme" }, 1,
            new ProviderCredential(null, key, baseUrl ?? _standIn.BaseUrl, "gpt-4o-mini")),
        new Progress<string>(), CancellationToken.None);

    async Task<ResearchFailedException> Failure(string key = Key, Uri? baseUrl = null)
    {
        try
        {
            await Run(key, baseUrl);
        }
        catch (ResearchFailedException ex)
        {
            Assert.That(ex.Message, Does.Not.Contain(key), "the key in the message");
            return ex;
        }

        Assert.Fail("the call succeeded");
        throw new InvalidOperationException();
    }

    [Test]
    public async Task Should_answer_with_the_result_and_the_provider_s_token_counts()
    {
        var outcome = await Run();
        var call = (await _standIn.Completions())[^1];
        Assert.Multiple(() =>
        {
            Assert.That(outcome.Result["summary"]!.GetValue<string>(), Is.EqualTo("Stand-in research on Research Acme."));
            Assert.That(outcome.Usage, Is.EqualTo(new TokenUsage(call.PromptTokens, call.CompletionTokens, "gpt-4o-mini")));
            Assert.That(call.Key, Is.EqualTo(Key));
        });
    }

    [TestCase(503, true)]
    [TestCase(500, true)]
    [TestCase(400, false)]
    [TestCase(402, false)]
    public async Task Should_tell_transient_server_errors_from_requests_that_cannot_succeed(int status, bool transient)
    {
        await _standIn.InjectFault(status: status);
        var failure = await Failure();
        TestContext.Out.WriteLine(failure.Message);
        Assert.Multiple(() =>
        {
            Assert.That(failure.Transient, Is.EqualTo(transient));
            Assert.That(failure.CredentialRejected, Is.False);
            Assert.That(failure.Message, Does.Contain($"({status}"));
        });
    }

    [Test]
    public async Task Should_quote_what_the_provider_said_about_a_bad_request()
    {
        await _standIn.InjectFault(status: 400);
        var failure = await Failure();
        Assert.That(failure.Message, Does.StartWith("the provider refused the request (400 context_length_exceeded): This model's maximum context length"));
    }

    [TestCase(401, "the provider rejected the API key (401 invalid_api_key)")]
    [TestCase(403, "the provider refused the API key access (403 unsupported_country_region_territory)")]
    public async Task Should_mark_a_refused_key_as_a_rejected_credential(int status, string message)
    {
        await _standIn.InjectFault(status: status);
        var failure = await Failure();
        Assert.Multiple(() =>
        {
            Assert.That(failure.Message, Is.EqualTo(message));
            Assert.That(failure.Transient, Is.False);
            Assert.That(failure.CredentialRejected, Is.True);
        });
    }

    [Test]
    public async Task Should_reject_a_key_the_provider_does_not_know()
    {
        var failure = await Failure("sk-rejected-executor-tests");
        Assert.That((failure.Message, failure.CredentialRejected), Is.EqualTo(("the provider rejected the API key (401 invalid_api_key)", true)));
    }

    [Test]
    public async Task Should_fail_an_account_without_quota_at_once()
    {
        var failure = await Failure("sk-noquota-executor-tests");
        Assert.That((failure.Message, failure.Transient, failure.CredentialRejected),
            Is.EqualTo(("the provider account has no quota left (insufficient_quota)", false, false)));
    }

    [Test]
    public async Task Should_wait_as_long_as_a_429_says()
    {
        await _standIn.InjectFault(status: 429, retryAfterMs: 2500);
        var failure = await Failure();
        Assert.That((failure.Transient, failure.RetryAfter), Is.EqualTo((true, (TimeSpan?)TimeSpan.FromMilliseconds(2500))));
    }

    [Test]
    public async Task Should_wait_for_the_budget_to_refill_when_the_provider_s_rate_limit_refuses_a_call()
    {
        const string key = "sk-executor-tests-budget";
        await _standIn.SetLimits(requestsPerMinute: 2, tokensPerMinute: 1_000_000, key: key);
        await Run(key);
        await Run(key);
        var failure = await Failure(key);
        TestContext.Out.WriteLine($"{failure.Message}; retry after {failure.RetryAfter}");
        Assert.Multiple(() =>
        {
            Assert.That(failure.Transient, Is.True);
            Assert.That(failure.Message, Is.EqualTo("the provider's rate limit was reached (429 rate_limit_exceeded)"));
            // Two a minute: one request back within 30 s of the second call.
            Assert.That(failure.RetryAfter, Is.GreaterThan(TimeSpan.FromSeconds(25)).And.LessThanOrEqualTo(TimeSpan.FromSeconds(30)));
        });
    }

    [Test]
    public async Task Should_give_up_on_a_call_past_the_timeout_as_a_transient_failure()
    {
        await _standIn.InjectFault(hangMs: 10_000);
        var failure = await Failure();
        Assert.That((failure.Message, failure.Transient), Is.EqualTo(("the provider did not answer within 2 s", true)));
    }

    [Test]
    public async Task Should_retry_a_provider_it_cannot_reach()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // nothing listens there now
        var failure = await Failure(baseUrl: new Uri($"http://127.0.0.1:{port}/v1"));
        TestContext.Out.WriteLine(failure.Message);
        Assert.Multiple(() =>
        {
            Assert.That(failure.Transient, Is.True);
            Assert.That(failure.Message, Does.StartWith($"could not reach the provider at http://127.0.0.1:{port}/v1"));
        });
    }
}
