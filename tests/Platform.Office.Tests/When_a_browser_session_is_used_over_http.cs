using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Office.Tests;

/// <summary>The session cookie as a browser uses it, checked over plain HTTP: what it is, where it works, when it stops.</summary>
[TestFixture]
public sealed class When_a_browser_session_is_used_over_http
{
    const string Proof = "X-Platform-Office";

    static PlatformCluster Cluster => AssemblySetup.Cluster;

    static HttpClient Anonymous(int intake = 0) => new() { BaseAddress = Cluster.Intakes.ElementAt(intake).BaseAddress };

    static async Task<string> SignIn(string apiKey, int intake = 0)
    {
        using var http = Anonymous(intake);
        using var response = await http.PostAsJsonAsync("/v1/session", new { apiKey });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NoContent), await response.Content.ReadAsStringAsync());
        var setCookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("platform_session=", StringComparison.Ordinal));
        return setCookie;
    }

    static string CookiePair(string setCookie) => setCookie.Split(';')[0];

    static HttpRequestMessage WithCookie(HttpMethod method, string path, string setCookie, object? body = null, bool proof = false, string? origin = null)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Add("Cookie", CookiePair(setCookie));
        if (proof)
            request.Headers.Add(Proof, "1");
        if (origin is not null)
            request.Headers.Add("Origin", origin);
        if (body is not null)
            request.Content = JsonContent.Create(body);
        return request;
    }

    static async Task<HttpResponseMessage> Send(HttpRequestMessage request, int intake = 0)
    {
        using var http = Anonymous(intake);
        using (request)
            return await http.SendAsync(request);
    }

    static async Task<JsonObject> Problem(HttpResponseMessage response)
    {
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    static readonly object OneTask = new { name = "one", instructions = "Research {company}", tasks = new[] { new { key = "a", input = new { company = "A", simulate = new { durationMs = 10 } } } } };

    [Test]
    public async Task Should_set_an_http_only_strict_cookie_that_names_the_user_on_every_intake()
    {
        var (userId, key) = await Api.CreateUser(Cluster, "session-user", "starter");

        var setCookie = await SignIn(key);
        using var here = await Send(WithCookie(HttpMethod.Get, "/v1/session", setCookie));
        using var there = await Send(WithCookie(HttpMethod.Get, "/v1/session", setCookie), intake: 1);
        using var queue = await Send(WithCookie(HttpMethod.Get, "/v1/queue", setCookie), intake: 1);

        await Assert.MultipleAsync(async () =>
        {
            Assert.That(setCookie, Does.Contain("httponly").IgnoreCase);
            Assert.That(setCookie, Does.Contain("samesite=strict").IgnoreCase);
            Assert.That(setCookie, Does.Contain("path=/").IgnoreCase);
            Assert.That(setCookie, Does.Not.Contain("secure").IgnoreCase, "plain http: no Secure flag");
            Assert.That(setCookie, Does.Not.Contain(key), "the key itself is not in the cookie");
            Assert.That(here.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            var session = await here.Content.ReadFromJsonAsync<JsonObject>();
            Assert.That(session?["userId"]?.GetValue<string>(), Is.EqualTo(userId));
            Assert.That(session?["role"]?.GetValue<string>(), Is.EqualTo("user"));
            Assert.That(session?["tier"]?.GetValue<string>(), Is.EqualTo("starter"));
            Assert.That(there.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the other intake reads the cookie (one key ring)");
            Assert.That(queue.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the cookie authenticates the API");
        });
    }

    [Test]
    public async Task Should_refuse_an_unknown_or_missing_key_naming_the_field()
    {
        using var http = Anonymous();
        using var unknown = await http.PostAsJsonAsync("/v1/session", new { apiKey = "pk_not-a-key" });
        using var missing = await http.PostAsJsonAsync("/v1/session", new { });

        var unknownProblem = await Problem(unknown);
        var missingProblem = await Problem(missing);
        Assert.Multiple(() =>
        {
            Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(unknown.Headers.Contains("Set-Cookie"), Is.False);
            Assert.That(unknownProblem["errors"]?["apiKey"], Is.Not.Null);
            Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(missingProblem["errors"]?["apiKey"], Is.Not.Null);
        });
    }

    [Test]
    public async Task Should_stop_working_the_moment_the_key_is_rotated()
    {
        var (userId, key) = await Api.CreateUser(Cluster, "session-rotated", "starter");
        var setCookie = await SignIn(key);
        using (var before = await Send(WithCookie(HttpMethod.Get, "/v1/session", setCookie)))
            Assert.That(before.StatusCode, Is.EqualTo(HttpStatusCode.OK));

        using var admin = Cluster.Client();
        using (var rotated = await admin.PostAsync($"/v1/users/{userId}/api-key", content: null))
            await PlatformCluster.EnsureSuccess(rotated);

        using var here = await Send(WithCookie(HttpMethod.Get, "/v1/session", setCookie));
        using var there = await Send(WithCookie(HttpMethod.Get, "/v1/queue", setCookie), intake: 1);
        Assert.Multiple(() =>
        {
            Assert.That(here.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(there.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        });
    }

    [Test]
    public async Task Should_refuse_a_state_change_without_the_same_origin_proof()
    {
        var (_, key) = await Api.CreateUser(Cluster, "session-csrf", "starter");
        var setCookie = await SignIn(key);
        var own = Cluster.Intake.BaseAddress.GetLeftPart(UriPartial.Authority);

        using var noProof = await Send(WithCookie(HttpMethod.Post, "/v1/batches", setCookie, OneTask));
        using var foreign = await Send(WithCookie(HttpMethod.Post, "/v1/batches", setCookie, OneTask, proof: true, origin: "https://evil.example"));
        using var proven = await Send(WithCookie(HttpMethod.Post, "/v1/batches", setCookie, OneTask, proof: true, origin: own));

        var noProofProblem = await Problem(noProof);
        var foreignProblem = await Problem(foreign);
        Assert.Multiple(() =>
        {
            Assert.That(noProof.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That(noProofProblem["errors"]?[Proof], Is.Not.Null, "names the missing header");
            Assert.That(foreign.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That(foreignProblem["errors"]?["Origin"], Is.Not.Null, "names the foreign origin");
            Assert.That(proven.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        });
    }

    [Test]
    public async Task Should_refuse_a_tampered_cookie_and_clear_it_on_sign_out()
    {
        var (_, key) = await Api.CreateUser(Cluster, "session-out", "starter");
        var setCookie = await SignIn(key);
        var pair = CookiePair(setCookie);
        var tampered = pair[..^4] + (pair[^4] == 'A' ? 'B' : 'A') + pair[^3..];

        using var forged = await Send(WithCookie(HttpMethod.Get, "/v1/session", tampered));
        using var signOut = await Send(WithCookie(HttpMethod.Delete, "/v1/session", setCookie, proof: true));
        var cleared = signOut.Headers.TryGetValues("Set-Cookie", out var values) ? values.SingleOrDefault(v => v.StartsWith("platform_session=", StringComparison.Ordinal)) : null;

        Assert.Multiple(() =>
        {
            Assert.That(forged.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(signOut.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
            Assert.That(cleared, Does.StartWith("platform_session=;").And.Contain("expires=Thu, 01 Jan 1970").IgnoreCase);
        });
    }

    [Test]
    public async Task Should_sign_the_admin_in_as_the_admin()
    {
        var setCookie = await SignIn(PlatformCluster.AdminKey);

        using var session = await Send(WithCookie(HttpMethod.Get, "/v1/session", setCookie));
        using var fleet = await Send(WithCookie(HttpMethod.Get, "/v1/admin/fleet", setCookie), intake: 1);

        Assert.That(session.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var body = await session.Content.ReadFromJsonAsync<JsonObject>();
        Assert.Multiple(() =>
        {
            Assert.That(body?["role"]?.GetValue<string>(), Is.EqualTo("admin"));
            Assert.That(fleet.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        });
    }
}
