using System.Net;
using Platform.Testing;

namespace Platform.Secrets.Tests;

/// <summary>
/// BYOK on real processes: the intake checks a key against the (stand-in) provider before it takes it, a pro user with
/// a key of their own gets the tier's own-key slots, and every provider call of their tasks carries their key.
/// </summary>
[TestFixture]
public sealed class When_a_user_brings_their_own_provider_key
{
    Byok _byok = null!;

    // Calls of 2.5 s: a wave of twenty overlaps even when the two workers pick their tasks up a second apart.
    [OneTimeSetUp]
    public async Task Start() => _byok = await Byok.Start(nameof(When_a_user_brings_their_own_provider_key), latencyMs: 2500);

    [OneTimeTearDown]
    public async Task Stop() => await _byok.DisposeAsync();

    [Test]
    public async Task Should_run_twenty_at_once_with_every_call_on_the_users_key()
    {
        const string userId = "byok-pro";
        var user = await _byok.Cluster.CreateUser(userId, "pro");
        var key = Byok.NewUserKey("pro");
        var (status, body, text) = await Byok.PutKey(user, userId, new { apiKey = key });
        var view = await Byok.User(user, userId);
        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.OK), text);
            Assert.That(body["keyHint"]?.GetValue<string>(), Is.EqualTo("…" + key[^4..]));
            Assert.That(body["status"]?.GetValue<string>(), Is.EqualTo("active"));
            Assert.That(body["baseUrl"]?.GetValue<string>(), Is.EqualTo(_byok.Provider.BaseUrl.ToString()), "the platform's provider by default");
            Assert.That(text, Does.Not.Contain(key), "the answer shows only the hint");
            Assert.That(view["concurrency"]?.GetValue<int>(), Is.EqualTo(20), "pro with their own key");
            Assert.That(view["providerKey"]?["status"]?.GetValue<string>(), Is.EqualTo("active"));
            Assert.That(view.ToJsonString(), Does.Not.Contain(key));
        });

        await _byok.ClearCalls();
        var batch = await PlatformCluster.SubmitBatch(user, "forty companies", Byok.Companies(40));
        Assert.That(await _byok.WaitFinished(user, batch, TimeSpan.FromSeconds(90)), Is.EqualTo("completed"));

        var runs = await _byok.Runs(userId);
        var (peak, at) = Timeline.PeakOverlap(runs);
        var calls = await _byok.Provider.Completions();
        TestContext.Out.WriteLine($"{runs.Count} tasks; peak running {peak} at {at:HH:mm:ss.fff}; {calls.Count} completions, " +
                                  $"{calls.Count(c => c.Key == key)} on the user's key, {calls.Count(c => c.Key == _byok.PlatformKey)} on the platform's");
        Assert.Multiple(() =>
        {
            Assert.That(runs, Has.Count.EqualTo(40));
            Assert.That(peak, Is.EqualTo(20), "the own-key slots, all used");
            Assert.That(calls, Has.Count.GreaterThanOrEqualTo(40), "every task called the provider");
            Assert.That(calls.Select(c => c.Key).Distinct(), Is.EqualTo(new[] { key }), "every call carried the user's key");
        });
    }

    [Test]
    public async Task Should_refuse_a_key_the_provider_rejects()
    {
        const string userId = "byok-rejected";
        var user = await _byok.Cluster.CreateUser(userId, "pro");
        var key = $"sk-rejected-{Guid.NewGuid():N}";
        var (status, body, text) = await Byok.PutKey(user, userId, new { apiKey = key });
        var view = await Byok.User(user, userId);
        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.UnprocessableEntity), text);
            Assert.That(body["type"]?.GetValue<string>(), Is.EqualTo("https://platform.local/problems/provider-key-rejected"));
            Assert.That(body["detail"]?.GetValue<string>(), Does.Contain("the provider rejected this API key"));
            Assert.That(body["errors"]?["apiKey"], Is.Not.Null, "names the field");
            Assert.That(text, Does.Not.Contain(key), "the problem does not echo the key");
            Assert.That(view["providerKey"], Is.Null, "nothing stored");
            Assert.That(view["concurrency"]?.GetValue<int>(), Is.EqualTo(10), "still the tier's slots");
        });
    }

    [Test]
    public async Task Should_answer_502_when_the_provider_cannot_be_reached()
    {
        const string userId = "byok-unreachable";
        var user = await _byok.Cluster.CreateUser(userId, "pro");
        var key = Byok.NewUserKey("unreachable");
        // Port 9 (discard) on loopback: nothing listens there, so the connection is refused at once.
        var (status, body, text) = await Byok.PutKey(user, userId, new { apiKey = key, baseUrl = "http://127.0.0.1:9/v1" });
        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.BadGateway), text);
            Assert.That(body["type"]?.GetValue<string>(), Is.EqualTo("https://platform.local/problems/provider-unavailable"));
            Assert.That(text, Does.Not.Contain(key));
        });
    }

    [Test]
    public async Task Should_validate_the_request_and_hide_other_users()
    {
        const string userId = "byok-validation";
        var user = await _byok.Cluster.CreateUser(userId, "pro");
        var other = await _byok.Cluster.CreateUser("byok-other", "pro");
        var missing = await Byok.PutKey(user, userId, new { baseUrl = "https://api.example.org/v1" });
        var badUrlKey = Byok.NewUserKey("url");
        var badUrl = await Byok.PutKey(user, userId, new { apiKey = badUrlKey, baseUrl = "ftp://example.org/v1" });
        var credentials = await Byok.PutKey(user, userId, new { apiKey = Byok.NewUserKey("url"), baseUrl = "https://me:secret@example.org/v1" });
        var spacedKey = "sk-with a-space-" + Guid.NewGuid().ToString("N");
        var spaced = await Byok.PutKey(user, userId, new { apiKey = spacedKey });
        var someoneElse = await Byok.PutKey(other, userId, new { apiKey = Byok.NewUserKey("other") });
        using var deleteOther = await other.DeleteAsync($"/v1/users/{userId}/provider-key");
        Assert.Multiple(() =>
        {
            Assert.That(missing.Status, Is.EqualTo(HttpStatusCode.BadRequest), missing.Text);
            Assert.That(missing.Body["errors"]?["apiKey"], Is.Not.Null, missing.Text);
            Assert.That(badUrl.Status, Is.EqualTo(HttpStatusCode.BadRequest), badUrl.Text);
            Assert.That(badUrl.Body["errors"]?["baseUrl"], Is.Not.Null, badUrl.Text);
            Assert.That(credentials.Body["errors"]?["baseUrl"], Is.Not.Null, credentials.Text);
            Assert.That(credentials.Text, Does.Not.Contain("secret"), "the URL's credentials are not echoed");
            Assert.That(spaced.Body["errors"]?["apiKey"], Is.Not.Null, spaced.Text);
            Assert.That(badUrl.Text + spaced.Text, Does.Not.Contain(badUrlKey).And.Not.Contain(spacedKey), "a refused request does not echo its key");
            Assert.That(someoneElse.Status, Is.EqualTo(HttpStatusCode.NotFound), "another user's key is not theirs to set");
            Assert.That(deleteOther.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "nor to delete");
        });
    }

    [Test]
    public async Task Should_return_to_the_tiers_slots_when_the_key_is_deleted()
    {
        const string userId = "byok-delete";
        var user = await _byok.Cluster.CreateUser(userId, "pro");
        using var admin = _byok.Cluster.Client();
        var put = await Byok.PutKey(admin, userId, new { apiKey = Byok.NewUserKey("delete") });
        Assert.That(put.Status, Is.EqualTo(HttpStatusCode.OK), "the admin may set a user's key: " + put.Text);
        Assert.That((await Byok.User(user, userId))["concurrency"]?.GetValue<int>(), Is.EqualTo(20));

        using var deleted = await user.DeleteAsync($"/v1/users/{userId}/provider-key");
        var view = await Byok.User(user, userId);
        var stored = await _byok.Cluster.Scalar<long>("SELECT count(*) FROM provider_keys WHERE user_id = $1", userId);
        Assert.Multiple(() =>
        {
            Assert.That(deleted.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
            Assert.That(view["providerKey"], Is.Null);
            Assert.That(view["concurrency"]?.GetValue<int>(), Is.EqualTo(10));
            Assert.That(stored, Is.Zero, "the protected key is gone too");
        });
    }
}
