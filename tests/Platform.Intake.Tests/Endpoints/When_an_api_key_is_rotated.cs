using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Npgsql;
using Platform.Intake.Auth;

namespace Platform.Intake.Tests.Endpoints;

[TestFixture]
public sealed class When_an_api_key_is_rotated
{
    static IntakeApplication App => AssemblySetup.Application;

    static async Task<(HttpStatusCode Status, string? ApiKey)> Rotate(HttpClient caller, string userId)
    {
        using var response = await caller.PostAsync($"/v1/users/{userId}/api-key", content: null);
        var body = await response.Content.ReadAsStringAsync();
        var key = response.IsSuccessStatusCode ? JsonNode.Parse(body)!["apiKey"]!.GetValue<string>() : null;
        return (response.StatusCode, key);
    }

    static async Task<HttpStatusCode> StatusOfSelf(string apiKey, string userId)
    {
        using var client = App.Client(apiKey);
        using var response = await client.GetAsync($"/v1/users/{userId}");
        return response.StatusCode;
    }

    [Test]
    public async Task Should_let_the_admin_rotate_a_user_s_key()
    {
        var (userId, user, oldKey) = await CreateUser("rotated-by-admin");
        using (user)
        {
            using var admin = App.Admin();
            var (status, newKey) = await Rotate(admin, userId);

            Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
            await Assert.MultipleAsync(async () =>
            {
                Assert.That(newKey, Does.StartWith("pk_").And.Not.EqualTo(oldKey));
                Assert.That(await StatusOfSelf(oldKey, userId), Is.EqualTo(HttpStatusCode.Unauthorized), "the old key, at once");
                Assert.That(await StatusOfSelf(newKey!, userId), Is.EqualTo(HttpStatusCode.OK), "the new key");
            });
        }
    }

    [Test]
    public async Task Should_let_a_user_rotate_their_own_key()
    {
        var (userId, user, oldKey) = await CreateUser("rotates-own");
        using (user)
        {
            var (status, newKey) = await Rotate(user, userId);

            Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
            await Assert.MultipleAsync(async () =>
            {
                Assert.That(newKey, Does.StartWith("pk_").And.Not.EqualTo(oldKey));
                Assert.That(await StatusOfSelf(oldKey, userId), Is.EqualTo(HttpStatusCode.Unauthorized), "the old key, at once");
                Assert.That(await StatusOfSelf(newKey!, userId), Is.EqualTo(HttpStatusCode.OK), "the new key");
            });
        }
    }

    [Test]
    public async Task Should_answer_404_to_another_user_and_keep_their_key()
    {
        var (ownerId, owner, ownerKey) = await CreateUser("rotation-owner");
        var (_, stranger, _) = await CreateUser("rotation-stranger");
        using (owner)
        using (stranger)
        {
            using var response = await stranger.PostAsync($"/v1/users/{ownerId}/api-key", content: null);
            using var missing = await stranger.PostAsync($"/v1/users/nobody-{Guid.NewGuid():N}/api-key", content: null);

            await Assert.MultipleAsync(async () =>
            {
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
                Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
                Assert.That(missing.StatusCode, Is.EqualTo(response.StatusCode), "another user looks exactly like a missing one");
                Assert.That(await StatusOfSelf(ownerKey, ownerId), Is.EqualTo(HttpStatusCode.OK), "the owner's key still works");
            });
        }
    }

    [Test]
    public async Task Should_answer_404_to_the_admin_for_an_unknown_user()
    {
        using var admin = App.Admin();

        var (status, _) = await Rotate(admin, $"nobody-{Guid.NewGuid():N}");

        Assert.That(status, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Should_store_only_a_hash_of_the_new_key()
    {
        var (userId, user, _) = await CreateUser("rotation-hash");
        using (user)
        {
            var (_, newKey) = await Rotate(user, userId);

            await using var connection = new NpgsqlConnection(AssemblySetup.Database);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT api_key_hash FROM users WHERE user_id = $1", connection)
            {
                Parameters = { new NpgsqlParameter { Value = userId } },
            };
            var stored = (string?)await command.ExecuteScalarAsync();

            Assert.Multiple(() =>
            {
                Assert.That(stored, Is.EqualTo(ApiKeys.Hash(newKey!)));
                Assert.That(stored, Does.Not.Contain(newKey!));
            });
        }
    }

    /// <summary>A fresh user, a client as them, and their key (the shared helper hides the key inside the client).</summary>
    static async Task<(string UserId, HttpClient Client, string ApiKey)> CreateUser(string prefix)
    {
        var userId = $"{prefix}-{Guid.NewGuid():N}";
        using var admin = App.Admin();
        using var response = await admin.PostAsJsonAsync("/v1/users", new { userId, tier = "pro" });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Created), await response.Content.ReadAsStringAsync());
        var apiKey = (await response.Content.ReadFromJsonAsync<JsonObject>())!["apiKey"]!.GetValue<string>();
        return (userId, App.Client(apiKey), apiKey);
    }
}
