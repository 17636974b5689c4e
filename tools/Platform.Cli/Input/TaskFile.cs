using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Platform.Cli.Input;

public sealed record TaskInput(string Key, JsonObject Input);

/// <summary>
/// A batch's tasks from a file: CSV (the header row names the input fields; a <c>key</c> column is the task's key, else
/// its row number) or JSONL (one object a line: <c>{"key": …, "input": {…}}</c>, or the input object alone).
/// Row numbers are zero-padded to the file's row count so the keys sort in file order.
/// </summary>
public static class TaskFile
{
    public const string KeyColumn = "key";

    public static IReadOnlyList<TaskInput> Load(string path)
    {
        if (!File.Exists(path))
            throw new CliException(ExitCodes.Usage, $"{path}: no such file");
        var text = File.ReadAllText(path);
        var extension = Path.GetExtension(path).ToLowerInvariant();
        try
        {
            var tasks = extension switch
            {
                ".csv" => FromCsv(text),
                ".jsonl" or ".ndjson" => FromJsonLines(text),
                _ => throw new FormatException($"unknown file type '{extension}': use a .csv or a .jsonl file"),
            };
            return tasks.Count == 0 ? throw new FormatException("no tasks in the file") : tasks;
        }
        catch (FormatException ex)
        {
            throw new CliException(ExitCodes.Usage, $"{path}: {ex.Message}", inner: ex);
        }
    }

    public static IReadOnlyList<TaskInput> FromCsv(string text)
    {
        var records = Csv.Read(text).ToList();
        if (records.Count == 0)
            return [];
        var header = records[0].Fields.Select(h => h.Trim()).ToList();
        for (var i = 0; i < header.Count; i++)
        {
            if (header[i].Length == 0)
                throw new FormatException($"line {records[0].Line}: column {i + 1} of the header row has no name");
            if (header.IndexOf(header[i]) != i)
                throw new FormatException($"line {records[0].Line}: column '{header[i]}' appears twice in the header row");
        }

        var keyColumn = header.IndexOf(KeyColumn);
        var rows = records.Skip(1).ToList();
        var width = rows.Count.ToString(CultureInfo.InvariantCulture).Length;
        var tasks = new List<TaskInput>(rows.Count);
        for (var r = 0; r < rows.Count; r++)
        {
            var (line, fields) = rows[r];
            if (fields.Count != header.Count)
                throw new FormatException($"line {line}: {fields.Count} fields where the header row has {header.Count}");
            var input = new JsonObject();
            for (var i = 0; i < header.Count; i++)
            {
                if (i != keyColumn)
                    input[header[i]] = fields[i];
            }

            var key = keyColumn >= 0 ? fields[keyColumn] : RowKey(r + 1, width);
            if (string.IsNullOrWhiteSpace(key))
                throw new FormatException($"line {line}: the key column is empty");
            tasks.Add(new TaskInput(key, input));
        }

        return tasks;
    }

    public static IReadOnlyList<TaskInput> FromJsonLines(string text)
    {
        var lines = text.TrimStart('\uFEFF').Split('\n').Select((l, i) => (Line: i + 1, Text: l.TrimEnd('\r').Trim()))
            .Where(l => l.Text.Length > 0).ToList();
        var width = lines.Count.ToString(CultureInfo.InvariantCulture).Length;
        var tasks = new List<TaskInput>(lines.Count);
        for (var r = 0; r < lines.Count; r++)
        {
            var (line, json) = lines[r];
            JsonNode? node;
            try
            {
                node = JsonNode.Parse(json);
            }
            catch (JsonException ex)
            {
                throw new FormatException($"line {line}: not valid JSON ({ex.Message})");
            }

            if (node is not JsonObject record)
                throw new FormatException($"line {line}: each line must be a JSON object");
            if (record["input"] is JsonNode inputNode)
            {
                if (inputNode is not JsonObject input)
                    throw new FormatException($"line {line}: input must be a JSON object");
                var key = record["key"] switch
                {
                    null => RowKey(r + 1, width),
                    JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
                    JsonValue v when v.GetValueKind() == JsonValueKind.Number => v.ToJsonString(),
                    _ => throw new FormatException($"line {line}: key must be a string or a number"),
                };
                tasks.Add(new TaskInput(key, (JsonObject)input.DeepClone()));
            }
            else
            {
                tasks.Add(new TaskInput(RowKey(r + 1, width), record));
            }
        }

        return tasks;
    }

    static string RowKey(int row, int width) => row.ToString(CultureInfo.InvariantCulture).PadLeft(width, '0');
}
