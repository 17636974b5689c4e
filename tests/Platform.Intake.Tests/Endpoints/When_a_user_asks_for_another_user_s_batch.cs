using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Platform.Intake.Tests.Endpoints;

[TestFixture]
public sealed class When_a_user_asks_for_another_user_s_batch
{
    static IntakeApplication App => AssemblySetup.Application;

    HttpClient _owner = null!;
    HttpClient _stranger = null!;
    Guid _batchId;

    [OneTimeSetUp]
    public async Task SubmitAsOwner()
    {
        (_, _owner) = await App.CreateUser("owner");
        (_, _stranger) = await App.CreateUser("stranger");
        _batchId = await IntakeApplication.SubmitBatch(_owner);
    }

    [OneTimeTearDown]
    public void Dispose()
    {
        _owner.Dispose();
        _stranger.Dispose();
    }

    [Test]
    public async Task Should_show_the_batch_to_its_owner()
    {
        using var response = await _owner.GetAsync($"/v1/batches/{_batchId}");
        var batch = await response.Content.ReadFromJsonAsync<JsonObject>();

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(batch!["batchId"]!.GetValue<Guid>(), Is.EqualTo(_batchId));
            Assert.That(batch["total"]!.GetValue<int>(), Is.EqualTo(2));
        });
    }

    [TestCase("")]
    [TestCase("/tasks")]
    public async Task Should_answer_404_as_if_it_did_not_exist(string path)
    {
        using var theirs = await _stranger.GetAsync($"/v1/batches/{_batchId}{path}");
        using var missing = await _stranger.GetAsync($"/v1/batches/{Guid.NewGuid()}{path}");

        Assert.Multiple(() =>
        {
            Assert.That(theirs.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(theirs.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(missing.StatusCode, Is.EqualTo(theirs.StatusCode), "another user's batch looks exactly like a missing one");
        });
    }

    [Test]
    public async Task Should_not_list_it_among_the_stranger_s_batches()
    {
        var page = await _stranger.GetFromJsonAsync<JsonObject>("/v1/batches");

        Assert.That(page!["total"]!.GetValue<int>(), Is.Zero);
    }
}
