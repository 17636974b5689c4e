using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Platform.Testing;

namespace Platform.Streams.Tests;

/// <summary>A finished batch with completed and failed tasks, downloaded as JSON lines and as CSV, against its task rows.</summary>
[TestFixture]
public sealed class When_a_batch_s_results_are_downloaded
{
    const int TaskCount = 30;

    static PlatformCluster Cluster => AssemblySetup.Cluster;

    HttpClient _owner = null!;
    Guid _batchId;
    List<(string Key, string Status, JsonObject? Result, string? Error)> _rows = null!;

    [OneTimeSetUp]
    public async Task RunABatch()
    {
        _owner = await Cluster.CreateUser("results-user", "enterprise");
        // Every fifth fails for good: the export has errors and empty result columns as well as results.
        _batchId = await PlatformCluster.SubmitBatch(_owner, "results, \"quoted\"",
            Enumerable.Range(0, TaskCount).Select(i => i % 5 == 0
                ? (object)new { company = $"Company {i}, Inc.", simulate = new { durationMs = 20, fail = "permanent" } }
                : new { company = $"Company {i}, Inc.", simulate = new { durationMs = 20 } }));
        await Poll.Until(async () => (await PlatformCluster.GetJson(_owner, $"/v1/batches/{_batchId}"))["finishedAt"] is not null,
            TimeSpan.FromSeconds(90), "the batch to finish");

        // In the collation's key order, as the export promises.
        _rows = await Cluster.Query("SELECT key, status, result::text, error FROM tasks WHERE batch_id = $1 ORDER BY key",
            r => (r.GetString(0), r.GetString(1), r.IsDBNull(2) ? null : JsonNode.Parse(r.GetString(2))!.AsObject(), r.IsDBNull(3) ? null : r.GetString(3)),
            _batchId);
    }

    [OneTimeTearDown]
    public void Dispose() => _owner.Dispose();

    [Test]
    public async Task Should_write_one_json_line_per_task_row()
    {
        using var response = await _owner.GetAsync($"/v1/batches/{_batchId}/results");
        var lines = (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonNode.Parse(l)!.AsObject()).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(response.Content.Headers.ContentDisposition?.DispositionType, Is.EqualTo("attachment"));
            Assert.That(response.Content.Headers.ContentDisposition?.FileName?.Trim('"'), Does.EndWith(".jsonl"));
            Assert.That(_rows.Select(r => r.Status), Does.Contain("failed").And.Contain("completed"), "the batch has both");
            Assert.That(lines, Has.Count.EqualTo(TaskCount));
            Assert.That(lines.Select(l => l["key"]!.GetValue<string>()), Is.EqualTo(_rows.Select(r => r.Key)), "in key order");
            for (var i = 0; i < Math.Min(lines.Count, _rows.Count); i++)
            {
                Assert.That(lines[i]["status"]!.GetValue<string>(), Is.EqualTo(_rows[i].Status));
                Assert.That(lines[i]["error"]?.GetValue<string>(), Is.EqualTo(_rows[i].Error));
                Assert.That(JsonNode.DeepEquals(lines[i]["result"], _rows[i].Result), Is.True, $"{_rows[i].Key}: result");
            }
        });
    }

    [Test]
    public async Task Should_write_csv_with_a_column_per_result_field_matching_the_task_rows()
    {
        using var response = await _owner.GetAsync($"/v1/batches/{_batchId}/results?format=csv");
        var records = ParseCsv(await response.Content.ReadAsStringAsync());
        var header = records[0];
        var fields = _rows.Where(r => r.Result is not null).SelectMany(r => r.Result!.Select(p => p.Key)).Distinct().ToList();

        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/csv"));
            Assert.That(response.Content.Headers.ContentDisposition?.FileName?.Trim('"'), Does.EndWith(".csv"));
            Assert.That(header.Take(3), Is.EqualTo(new[] { "key", "status", "error" }));
            Assert.That(header.Skip(3), Is.EquivalentTo(fields), "one column per top-level result field");
            Assert.That(records.Skip(1).Select(r => r[0]), Is.EqualTo(_rows.Select(r => r.Key)), "one record per task, in key order");
            foreach (var (record, row) in records.Skip(1).Zip(_rows))
            {
                Assert.That(record, Has.Count.EqualTo(header.Count), $"{row.Key}: as many fields as the header");
                Assert.That(record[1], Is.EqualTo(row.Status));
                Assert.That(record[2], Is.EqualTo(row.Error ?? ""));
                for (var c = 3; c < Math.Min(header.Count, record.Count); c++)
                {
                    var expected = row.Result?[header[c]] switch
                    {
                        null => "",
                        JsonValue v when v.TryGetValue<string>(out var s) => s,
                        var node => node.ToJsonString(),
                    };
                    var actual = record[c];
                    Assert.That(expected.StartsWith('{') || expected.StartsWith('[') ? JsonNode.DeepEquals(JsonNode.Parse(actual), JsonNode.Parse(expected)) : actual == expected,
                        Is.True, $"{row.Key}.{header[c]}: '{actual}' for '{expected}'");
                }
            }
        });
    }

    /// <summary>RFC 4180: quoted fields may hold commas, doubled quotes and line breaks; records end with CRLF.</summary>
    static List<List<string>> ParseCsv(string text)
    {
        var records = new List<List<string>>();
        var record = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else field.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { record.Add(field.ToString()); field.Clear(); }
            else if (c == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
            {
                record.Add(field.ToString());
                field.Clear();
                records.Add(record);
                record = [];
                i++;
            }
            else field.Append(c);
        }
        Assert.That(field.Length + record.Count, Is.Zero, "the last record ends with CRLF");
        return records;
    }
}
