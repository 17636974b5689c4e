using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Npgsql;
using Platform.Intake.Auth;

namespace Platform.Intake.Tests.Endpoints;

[TestFixture]
public sealed class When_the_admin_creates_a_user
{
    static IntakeApplication App => AssemblySetup.Application;

    string _userId = null!;
    HttpResponseMessage _created = null!;
    JsonObject _body = null!;

    [OneTimeSetUp]
    public async Task Create()
    {
        _userId = $"new-user-{Guid.NewGuid():N}";
        using var admin = App.Admin();
        _created = await admin.PostAsJsonAsync("/v1/users", new { userId = _userId, tier = "Starter" });
        _body = (await _created.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    [OneTimeTearDown]
    public void Dispose() => _created.Dispose();

    string ApiKey => _body["apiKey"]!.GetValue<string>();

    [Test]
    public void Should_answer_201_with_the_user_and_its_key()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
            Assert.That(_created.Headers.Location?.ToString(), Is.EqualTo($"/v1/users/{_userId}"));
            Assert.That(_body["userId"]!.GetValue<string>(), Is.EqualTo(_userId));
            Assert.That(_body["tier"]!.GetValue<string>(), Is.EqualTo("starter"), "tiers are stored lower case");
            Assert.That(ApiKey, Does.StartWith("pk_").And.Length.GreaterThan(40));
        });
    }

    [Test]
    public async Task Should_accept_the_key_as_that_user()
    {
        using var user = App.Client(ApiKey);

        var self = await user.GetFromJsonAsync<JsonObject>($"/v1/users/{_userId}");

        Assert.That(self!["userId"]!.GetValue<string>(), Is.EqualTo(_userId));
    }

    [Test]
    public async Task Should_never_show_the_key_again()
    {
        using var admin = App.Admin();
        using var response = await admin.GetAsync($"/v1/users/{_userId}");
        var text = await response.Content.ReadAsStringAsync();

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(text, Does.Not.Contain(ApiKey));
            Assert.That(JsonNode.Parse(text)!.AsObject(), Does.Not.ContainKey("apiKey"));
        });
    }

    [Test]
    public async Task Should_store_only_a_hash_of_the_key()
    {
        await using var connection = new NpgsqlConnection(AssemblySetup.Database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT api_key_hash FROM users WHERE user_id = $1", connection)
        {
            Parameters = { new NpgsqlParameter { Value = _userId } },
        };
        var stored = (string?)await command.ExecuteScalarAsync();

        Assert.Multiple(() =>
        {
            Assert.That(stored, Is.EqualTo(ApiKeys.Hash(ApiKey)));
            Assert.That(stored, Does.Not.Contain(ApiKey));
        });
    }

    [Test]
    public async Task Should_answer_409_to_creating_the_same_user_again()
    {
        using var admin = App.Admin();

        using var again = await admin.PostAsJsonAsync("/v1/users", new { userId = _userId, tier = "pro" });

        Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
    }
}
