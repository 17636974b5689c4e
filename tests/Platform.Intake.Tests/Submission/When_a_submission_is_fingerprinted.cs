using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Platform.Intake.Submission;

namespace Platform.Intake.Tests.Submission;

/// <summary>
/// The idempotency fingerprint (<c>batches.request_hash</c>) is streamed into the hash now, not built as one array: it
/// must stay the hash of the very bytes earlier versions hashed, or a key used before an upgrade would answer 409 after it.
/// </summary>
[TestFixture]
public sealed class When_a_submission_is_fingerprinted
{
    static BatchRequest Request(int tasks, string company = "Company") => new()
    {
        Name = "companies",
        Instructions = "Research {company}",
        Tasks = [.. Enumerable.Range(0, tasks).Select(i => (TaskRequest?)new TaskRequest
        {
            Key = $"task-{i:D5}",
            Input = new JsonObject { ["company"] = $"{company} {i} – ü \"quoted\"", ["simulate"] = new JsonObject { ["durationMs"] = i } },
        })],
    };

    [TestCase(1)]
    [TestCase(10_000)]
    public void Should_hash_the_bytes_of_the_whole_serialized_request(int tasks)
    {
        var request = Request(tasks);
        var whole = Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(request)));

        Assert.That(BatchSubmission.Hash(request), Is.EqualTo(whole));
    }

    [Test]
    public void Should_differ_when_one_input_differs()
    {
        var other = Request(10_000);
        other.Tasks![9_999]!.Input!["company"] = "Another";

        Assert.That(BatchSubmission.Hash(other), Is.Not.EqualTo(BatchSubmission.Hash(Request(10_000))));
    }
}
