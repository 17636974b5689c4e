using System.Net;
using System.Net.Http.Json;

namespace Platform.Intake.Tests.Endpoints;

[TestFixture]
public sealed class When_a_user_calls_the_admin_api
{
    static IntakeApplication App => AssemblySetup.Application;

    [Test]
    public async Task Should_answer_403_to_creating_a_user()
    {
        var (_, user) = await App.CreateUser("not-admin");
        using (user)
        using (var response = await user.PostAsJsonAsync("/v1/users", new { userId = $"made-by-user-{Guid.NewGuid():N}", tier = "enterprise" }))
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
    }

    [Test]
    public async Task Should_answer_403_to_changing_their_own_tier()
    {
        var (userId, user) = await App.CreateUser("self-upgrade", tier: "free");
        using (user)
        using (var response = await user.PutAsJsonAsync($"/v1/users/{userId}/tier", new { tier = "enterprise" }))
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));

        using var admin = App.Admin();
        var view = await admin.GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>($"/v1/users/{userId}");
        Assert.That(view!["tier"]!.GetValue<string>(), Is.EqualTo("free"));
    }
}
