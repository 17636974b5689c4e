using System.Net;
using Platform.Testing;

namespace Platform.Streams.Tests;

[TestFixture]
public sealed class When_another_user_s_batch_is_asked_for
{
    static PlatformCluster Cluster => AssemblySetup.Cluster;

    Guid _batchId;
    HttpClient _owner = null!;
    string _strangerKey = null!;

    [OneTimeSetUp]
    public async Task SubmitAsTheOwner()
    {
        _owner = await Cluster.CreateUser("foreign-owner", "pro");
        using var stranger = await Cluster.CreateUser("foreign-stranger", "pro");
        _strangerKey = stranger.DefaultRequestHeaders.Authorization!.Parameter!;
        _batchId = await PlatformCluster.SubmitBatch(_owner, "not yours", [new { company = "Acme", simulate = new { durationMs = 50 } }]);
    }

    [OneTimeTearDown]
    public void Dispose() => _owner.Dispose();

    [TestCase(0, "events")]
    [TestCase(1, "events")]
    [TestCase(0, "results")]
    [TestCase(1, "results?format=csv")]
    public async Task Should_answer_404_as_for_a_missing_batch(int intake, string what)
    {
        using var stranger = Cluster.Client(_strangerKey, intake);
        using var foreign = await stranger.GetAsync($"/v1/batches/{_batchId}/{what}");
        using var missing = await stranger.GetAsync($"/v1/batches/{Guid.NewGuid()}/{what}");
        using var own = await _owner.GetAsync($"/v1/batches/{_batchId}/{what}", HttpCompletionOption.ResponseHeadersRead);

        Assert.Multiple(() =>
        {
            Assert.That(foreign.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(foreign.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(own.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the owner reads it");
        });
    }

    [Test]
    public async Task Should_refuse_a_last_event_id_the_stream_never_sent()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/batches/{_batchId}/events");
        request.Headers.Add("Last-Event-ID", "not-a-cursor");
        using var response = await _owner.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(body, Does.Contain("Last-Event-ID"));
        });
    }
}
