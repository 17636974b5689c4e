using System.Net;
using Platform.Testing;

namespace Platform.Secrets.Tests;

/// <summary>
/// A key the provider took when it was given, and refuses later (revoked, say): the worker marks it rejected in the
/// transaction that queues the task again, the user falls back to the tier's slots and the platform's credential, and
/// the tasks still complete. The next PUT restores the key.
/// </summary>
[TestFixture]
public sealed class When_the_provider_rejects_a_users_key_later
{
    Byok _byok = null!;

    [OneTimeSetUp]
    public async Task Start() => _byok = await Byok.Start(nameof(When_the_provider_rejects_a_users_key_later), latencyMs: 200);

    [OneTimeTearDown]
    public async Task Stop() => await _byok.DisposeAsync();

    [Test]
    public async Task Should_fall_back_to_the_platforms_credential_and_show_why()
    {
        const string userId = "byok-revoked";
        var user = await _byok.Cluster.CreateUser(userId, "pro");
        var key = Byok.NewUserKey("revoked");
        var put = await Byok.PutKey(user, userId, new { apiKey = key });
        Assert.That(put.Status, Is.EqualTo(HttpStatusCode.OK), put.Text);

        // From now on the stand-in answers this key's completions 401, as a provider does for a revoked key.
        await _byok.Provider.InjectFault(status: 401, count: 1000, key: key, code: "invalid_api_key");
        await _byok.ClearCalls();
        var batch = await PlatformCluster.SubmitBatch(user, "revoked midway", Byok.Companies(12));
        var finished = await _byok.WaitFinished(user, batch, TimeSpan.FromSeconds(90));

        var view = await Byok.User(user, userId);
        var calls = await _byok.Provider.Completions();
        var onUserKey = calls.Where(c => c.Key == key).ToList();
        var onPlatformKey = calls.Where(c => c.Key == _byok.PlatformKey).ToList();
        var tasks = await PlatformCluster.GetJson(user, $"/v1/batches/{batch}/tasks?limit=100");
        TestContext.Out.WriteLine($"batch {finished}; {onUserKey.Count} calls on the user's key (statuses {string.Join(",", onUserKey.Select(c => c.Status).Distinct())}), " +
                                  $"{onPlatformKey.Count} on the platform's; user now: {view.ToJsonString()}");
        Assert.Multiple(() =>
        {
            Assert.That(finished, Is.EqualTo("completed"), "every task completed, on the platform's credential");
            Assert.That(onUserKey, Is.Not.Empty, "the user's key was tried first");
            Assert.That(onUserKey.Select(c => c.Status), Has.All.EqualTo(401));
            Assert.That(onPlatformKey.Count(c => c.Status == 200), Is.GreaterThanOrEqualTo(12), "the tasks ran on the platform's key");
            Assert.That(view["providerKey"]?["status"]?.GetValue<string>(), Is.EqualTo("rejected"));
            Assert.That(view["providerKey"]?["reason"]?.GetValue<string>(), Is.Not.Empty, "says why");
            Assert.That(view["providerKey"]?["rejectedAt"], Is.Not.Null, "and when");
            Assert.That(view["concurrency"]?.GetValue<int>(), Is.EqualTo(10), "back to the tier's slots");
            Assert.That(tasks.ToJsonString(), Does.Not.Contain(key), "no task's error names the key");
        });

        // The user fixes the key on the provider's side and gives it again: it is checked, and active once more.
        using (var http = new HttpClient { BaseAddress = _byok.Provider.Process.BaseAddress })
            (await http.DeleteAsync("/_standin/faults")).EnsureSuccessStatusCode();
        var again = await Byok.PutKey(user, userId, new { apiKey = key });
        var restored = await Byok.User(user, userId);
        Assert.Multiple(() =>
        {
            Assert.That(again.Status, Is.EqualTo(HttpStatusCode.OK), again.Text);
            Assert.That(restored["providerKey"]?["status"]?.GetValue<string>(), Is.EqualTo("active"));
            Assert.That(restored["providerKey"]?["reason"], Is.Null);
            Assert.That(restored["concurrency"]?.GetValue<int>(), Is.EqualTo(20));
        });
    }
}
