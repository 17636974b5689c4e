using System.Net;
using System.Net.Http.Json;

namespace Platform.Intake.Tests.Endpoints;

[TestFixture]
public sealed class When_a_request_is_not_authenticated
{
    static IntakeApplication App => AssemblySetup.Application;

    [Test]
    public async Task Should_answer_401_without_a_key()
    {
        using var client = App.Client(apiKey: null);

        using var response = await client.GetAsync("/v1/batches");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    [Test]
    public async Task Should_answer_401_with_an_unknown_key()
    {
        using var client = App.Client("pk_not-a-key-anyone-was-given");

        using var response = await client.GetAsync("/v1/batches");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    [Test]
    public async Task Should_answer_401_on_the_admin_api_with_a_wrong_admin_key()
    {
        using var client = App.Client(IntakeApplication.AdminKey + "x");

        using var response = await client.PostAsync("/v1/users", JsonContent.Create(new { userId = "nobody", tier = "free" }));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    [Test]
    public async Task Should_answer_200_with_a_valid_key()
    {
        // The other tests' 401s mean something only if the same request succeeds with a real key.
        var (_, user) = await App.CreateUser("auth");
        using (user)
        using (var response = await user.GetAsync("/v1/batches"))
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }
}
