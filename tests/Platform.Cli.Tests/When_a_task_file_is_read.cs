using System.Text.Json.Nodes;
using Platform.Cli.Input;

namespace Platform.Cli.Tests;

public sealed class When_a_csv_file_is_read
{
    [Test]
    public void Should_take_the_header_row_as_the_input_fields_and_number_the_rows()
    {
        var tasks = TaskFile.FromCsv("company,country\nAcme,US\nGlobex,DE\n");

        Assert.Multiple(() =>
        {
            Assert.That(tasks.Select(t => t.Key), Is.EqualTo(new[] { "1", "2" }));
            Assert.That(JsonNode.DeepEquals(tasks[1].Input, JsonNode.Parse("""{"company":"Globex","country":"DE"}""")), Is.True, tasks[1].Input.ToJsonString());
        });
    }

    [Test]
    public void Should_pad_row_numbers_so_the_keys_sort_in_file_order()
    {
        var tasks = TaskFile.FromCsv("company\n" + string.Join('\n', Enumerable.Range(1, 12).Select(i => $"c{i}")));

        Assert.That(tasks.Select(t => t.Key), Is.EqualTo(Enumerable.Range(1, 12).Select(i => i.ToString("D2", System.Globalization.CultureInfo.InvariantCulture))));
        Assert.That(tasks.Select(t => t.Key), Is.Ordered.Using<string>(StringComparer.Ordinal));
    }

    [Test]
    public void Should_use_the_key_column_as_the_key_and_leave_it_out_of_the_input()
    {
        var tasks = TaskFile.FromCsv("company,key\nAcme,acme\n");

        Assert.Multiple(() =>
        {
            Assert.That(tasks.Single().Key, Is.EqualTo("acme"));
            Assert.That(tasks.Single().Input.ToJsonString(), Is.EqualTo("""{"company":"Acme"}"""));
        });
    }

    [Test]
    public void Should_read_quoted_fields_with_commas_quotes_and_line_breaks()
    {
        var tasks = TaskFile.FromCsv("key,company,note\r\na,\"Acme, Inc.\",\"said \"\"hi\"\"\"\r\nb,Globex,\"two\r\nlines\"\r\n");

        Assert.Multiple(() =>
        {
            Assert.That(tasks, Has.Count.EqualTo(2));
            Assert.That(tasks[0].Input["company"]!.GetValue<string>(), Is.EqualTo("Acme, Inc."));
            Assert.That(tasks[0].Input["note"]!.GetValue<string>(), Is.EqualTo("said \"hi\""));
            Assert.That(tasks[1].Input["note"]!.GetValue<string>(), Is.EqualTo("two\r\nlines"));
        });
    }

    [Test]
    public void Should_skip_empty_lines_and_a_byte_order_mark()
    {
        var tasks = TaskFile.FromCsv("\uFEFFcompany\n\nAcme\n\r\n\nGlobex\n\n");

        Assert.Multiple(() =>
        {
            Assert.That(tasks.Select(t => t.Input["company"]!.GetValue<string>()), Is.EqualTo(new[] { "Acme", "Globex" }));
            Assert.That(tasks[0].Input.ContainsKey("company"), Is.True, "the BOM must not become part of the first column's name");
        });
    }

    [Test]
    public void Should_keep_an_empty_quoted_field_as_a_row()
    {
        var tasks = TaskFile.FromCsv("company\n\"\"\nAcme\n");

        Assert.That(tasks.Select(t => t.Input["company"]!.GetValue<string>()), Is.EqualTo(new[] { "", "Acme" }));
    }

    [TestCase("company\n\"Acme\n", "never closed")]
    [TestCase("company,country\nAcme\n", "line 2: 1 fields where the header row has 2")]
    [TestCase("company\nAc\"me\n", "line 2: a quote inside an unquoted field")]
    [TestCase("company,company\nAcme,Acme\n", "appears twice")]
    [TestCase("key,company\n,Acme\n", "line 2: the key column is empty")]
    public void Should_name_the_line_of_a_malformed_file(string text, string message)
    {
        var error = Assert.Throws<FormatException>(() => TaskFile.FromCsv(text));

        Assert.That(error!.Message, Does.Contain(message));
    }
}

public sealed class When_a_jsonl_file_is_read
{
    [Test]
    public void Should_take_key_and_input_or_the_object_as_the_input()
    {
        var tasks = TaskFile.FromJsonLines("""
            {"key": "acme", "input": {"company": "Acme", "simulate": {"durationMs": 100}}}

            {"company": "Globex"}
            {"key": 7, "input": {"company": "Initech"}}
            """.ReplaceLineEndings("\r\n"));

        Assert.Multiple(() =>
        {
            Assert.That(tasks.Select(t => t.Key), Is.EqualTo(new[] { "acme", "2", "7" }));
            Assert.That(tasks[0].Input["simulate"]!["durationMs"]!.GetValue<int>(), Is.EqualTo(100));
            Assert.That(tasks[1].Input.ToJsonString(), Is.EqualTo("""{"company":"Globex"}"""));
        });
    }

    [Test]
    public void Should_ignore_a_byte_order_mark()
    {
        var tasks = TaskFile.FromJsonLines("\uFEFF{\"company\": \"Acme\"}\n");

        Assert.That(tasks.Single().Input["company"]!.GetValue<string>(), Is.EqualTo("Acme"));
    }

    [TestCase("{\"company\": \"Acme\"}\n[1, 2]\n", "line 2: each line must be a JSON object")]
    [TestCase("{\"company\": \"Acme\"\n", "line 1: not valid JSON")]
    [TestCase("{\"key\": \"a\", \"input\": \"Acme\"}\n", "line 1: input must be a JSON object")]
    [TestCase("{\"key\": true, \"input\": {}}\n", "line 1: key must be a string or a number")]
    public void Should_name_the_line_of_a_malformed_file(string text, string message)
    {
        var error = Assert.Throws<FormatException>(() => TaskFile.FromJsonLines(text));

        Assert.That(error!.Message, Does.Contain(message));
    }
}
