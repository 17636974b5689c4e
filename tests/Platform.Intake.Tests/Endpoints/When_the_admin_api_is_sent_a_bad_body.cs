using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;

namespace Platform.Intake.Tests.Endpoints;

/// <summary>The admin endpoints' bodies of the wrong shape: 400 naming the field, and no user created or changed.</summary>
[TestFixture]
public sealed class When_the_admin_api_is_sent_a_bad_body
{
    static IntakeApplication App => AssemblySetup.Application;

    [TestCase("null", "body", "request body is required")]
    [TestCase("""{"userId": 5, "tier": "pro"}""", "userId", "must be a string")]
    [TestCase("""{"userId": "{id}", "tier": ["pro"]}""", "tier", "must be a string")]
    public async Task Should_refuse_a_user_that_cannot_be_read(string body, string field, string mention)
    {
        var userId = $"bad-body-{Guid.NewGuid():N}";
        using var admin = App.Admin();

        using var response = await admin.PostAsync("/v1/users", new StringContent(body.Replace("{id}", userId, StringComparison.Ordinal), Encoding.UTF8, "application/json"));
        using var lookup = await admin.GetAsync($"/v1/users/{userId}");

        await AssertRefused(response, field, mention);
        Assert.That(lookup.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "no user created");
    }

    [TestCase("null", "body", "request body is required")]
    [TestCase("""{"tier": 5}""", "tier", "must be a string")]
    public async Task Should_refuse_a_tier_change_that_cannot_be_read(string body, string field, string mention)
    {
        var (userId, user) = await App.CreateUser("bad-tier", tier: "pro");
        user.Dispose();
        using var admin = App.Admin();

        using var response = await admin.PutAsync($"/v1/users/{userId}/tier", new StringContent(body, Encoding.UTF8, "application/json"));
        var view = await admin.GetFromJsonAsync<JsonObject>($"/v1/users/{userId}");

        await AssertRefused(response, field, mention);
        Assert.That(view!["tier"]!.GetValue<string>(), Is.EqualTo("pro"), "the tier is unchanged");
    }

    [TestCase("GET", "/v1/users/a%00b", null)]
    [TestCase("PUT", "/v1/users/a%00b/tier", """{"tier": "pro"}""")]
    [TestCase("GET", "/v1/users/%ED%A0%80", null)]
    public async Task Should_answer_a_user_id_no_user_can_have_as_not_found(string method, string path, string? body)
    {
        using var admin = App.Admin();
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");

        using var response = await admin.SendAsync(request);

        Assert.Multiple(async () =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound).Or.EqualTo(HttpStatusCode.BadRequest), await response.Content.ReadAsStringAsync());
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json").Or.Null);
        });
    }

    static async Task AssertRefused(HttpResponseMessage response, string field, string mention)
    {
        var text = await response.Content.ReadAsStringAsync();
        var problem = text.Length > 0 ? JsonNode.Parse(text) : null;

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), text);
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(problem?["errors"]?[field]?[0]?.GetValue<string>(), Does.Contain(mention), text);
        });
    }
}
