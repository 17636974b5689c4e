using System.Buffers;
using System.ComponentModel;
using System.Text;
using System.Text.Json;
using Npgsql;
using Platform.Data;
using Platform.Intake.OpenApi;

namespace Platform.Intake.Endpoints;

/// <summary>
/// <c>GET /v1/batches/{id}/results</c>: every task of a batch in key order, as JSON lines or CSV, streamed a page at a
/// time (keyset on the batch's unique key index), so neither the intake nor one statement holds the whole batch.
/// </summary>
public static class ResultsEndpoints
{
    const int PageSize = 1000;
    const string Jsonl = "jsonl";
    const string Csv = "csv";

    public static void MapResultsEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/batches/{batchId}/results", Results).RequireAuthorization(IntakeExtensions.UserPolicy).WithTags("batches")
            .WithSummary("Download a batch's results")
            .WithDescription("Every task of the batch in key order, whatever its status, as an attachment. `jsonl` (the default): one line " +
                "per task, `{\"key\", \"status\", \"result\", \"error\"}` (`result` the task's JSON result or null). `csv` (RFC 4180, a header " +
                "row): `key,status,error`, then one column per top-level field of the tasks' results (in the order first seen over the " +
                "batch); a value that is not a string, number or boolean is written as JSON text.")
            .Produces<string>(StatusCodes.Status200OK, "application/jsonl", "text/csv")
            .WithMetadata(new ResponseDoc(StatusCodes.Status200OK, "The results, as an attachment named after the batch.",
                "{\"key\":\"acme\",\"status\":\"completed\",\"result\":{\"answer\":\"Founded in 1947\",\"confidence\":0.8},\"error\":null}\n" +
                "{\"key\":\"globex\",\"status\":\"failed\",\"result\":null,\"error\":\"the provider refused the request (400)\"}\n"))
            .FieldProblem(StatusCodes.Status400BadRequest, "`batchId` is not a GUID, or `format` is neither `jsonl` nor `csv`; `errors` names it.")
            .Problem(StatusCodes.Status404NotFound, "No such batch, or another user's (answered exactly alike; problem type `https://platform.local/problems/not-found`).");
    }

    static async Task<IResult> Results(Guid batchId, HttpContext http, PlatformDbContext db, NpgsqlDataSource data,
        [Description("`jsonl` (default) or `csv`.")] string? format, CancellationToken cancellationToken)
    {
        format = format?.ToLowerInvariant() ?? Jsonl;
        if (format is not (Jsonl or Csv))
            return Problems.Field("format", $"format '{format}' is unknown: use jsonl or csv");
        var batch = await BatchEndpoints.FindOwn(db, http, batchId, cancellationToken);
        if (batch is null)
            return Problems.NotFound($"batch {batchId} does not exist");

        var response = http.Response;
        response.ContentType = format == Csv ? "text/csv; charset=utf-8" : "application/jsonl; charset=utf-8";
        // The name is reduced to characters that need no quoting or encoding, so the plain form is the whole header.
        response.Headers.ContentDisposition = $"attachment; filename=\"{FileName(batch.Name, batchId)}.{format}\"";

        if (format == Csv)
            await WriteCsv(data, batchId, response.BodyWriter, cancellationToken);
        else
            await WriteJsonl(data, batchId, response.BodyWriter, cancellationToken);
        return TypedResults.Empty;
    }

    static async Task WriteJsonl(NpgsqlDataSource data, Guid batchId, System.IO.Pipelines.PipeWriter body, CancellationToken cancellationToken)
    {
        await foreach (var page in Pages(data, batchId, cancellationToken))
        {
            foreach (var row in page)
            {
                using (var json = new Utf8JsonWriter(body))
                {
                    json.WriteStartObject();
                    json.WriteString("key", row.Key);
                    json.WriteString("status", row.Status);
                    json.WritePropertyName("result");
                    if (row.Result is null)
                        json.WriteNullValue();
                    else
                        json.WriteRawValue(row.Result, skipInputValidation: true);
                    json.WriteString("error", row.Error);
                    json.WriteEndObject();
                }
                body.Write("\n"u8);
            }
            await body.FlushAsync(cancellationToken);
        }
    }

    static async Task WriteCsv(NpgsqlDataSource data, Guid batchId, System.IO.Pipelines.PipeWriter body, CancellationToken cancellationToken)
    {
        var columns = await ResultColumns(data, batchId, cancellationToken);
        var line = new StringBuilder();
        line.Append("key,status,error");
        foreach (var column in columns)
            line.Append(',').Append(CsvField(column));
        Flush(line, body);

        await foreach (var page in Pages(data, batchId, cancellationToken))
        {
            foreach (var row in page)
            {
                line.Append(CsvField(row.Key)).Append(',').Append(CsvField(row.Status)).Append(',').Append(CsvField(row.Error ?? ""));
                using var result = row.Result is null ? null : JsonDocument.Parse(row.Result);
                var fields = result?.RootElement.ValueKind == JsonValueKind.Object ? result.RootElement : (JsonElement?)null;
                foreach (var column in columns)
                {
                    line.Append(',');
                    if (fields is { } f && f.TryGetProperty(column, out var value))
                        line.Append(CsvField(Scalar(value)));
                }
                Flush(line, body);
            }
            await body.FlushAsync(cancellationToken);
        }
    }

    /// <summary>A string as itself, a number or boolean as its JSON text, null as nothing, anything else as JSON text.</summary>
    static string Scalar(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Null or JsonValueKind.Undefined => "",
        _ => value.GetRawText(),
    };

    static string CsvField(string value) =>
        value.AsSpan().IndexOfAny(",\"\r\n") < 0 ? value : "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    static void Flush(StringBuilder line, IBufferWriter<byte> body)
    {
        line.Append("\r\n");
        Encoding.UTF8.GetBytes(line.ToString(), body);
        line.Clear();
    }

    /// <summary>The top-level fields of the batch's results, in the order first seen over the tasks in key order.</summary>
    static async Task<List<string>> ResultColumns(NpgsqlDataSource data, Guid batchId, CancellationToken cancellationToken)
    {
        var columns = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        string? after = null;
        while (true)
        {
            await using var command = data.CreateCommand("""
                SELECT key, ARRAY(SELECT jsonb_object_keys(result))
                FROM tasks
                WHERE batch_id = $1 AND ($2::text IS NULL OR key > $2) AND jsonb_typeof(result) = 'object'
                ORDER BY key
                LIMIT $3
                """);
            command.Parameters.Add(new NpgsqlParameter { Value = batchId });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)after ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            command.Parameters.Add(new NpgsqlParameter { Value = PageSize });
            var read = 0;
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                read++;
                after = reader.GetString(0);
                foreach (var name in reader.GetFieldValue<string[]>(1))
                {
                    if (seen.Add(name))
                        columns.Add(name);
                }
            }
            if (read < PageSize)
                return columns;
        }
    }

    sealed record ResultRow(string Key, string Status, string? Result, string? Error);

    static async IAsyncEnumerable<List<ResultRow>> Pages(NpgsqlDataSource data, Guid batchId,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string? after = null;
        while (true)
        {
            var page = new List<ResultRow>(PageSize);
            await using (var command = data.CreateCommand("""
                SELECT key, status, result::text, error
                FROM tasks
                WHERE batch_id = $1 AND ($2::text IS NULL OR key > $2)
                ORDER BY key
                LIMIT $3
                """))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = batchId });
                command.Parameters.Add(new NpgsqlParameter { Value = (object?)after ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
                command.Parameters.Add(new NpgsqlParameter { Value = PageSize });
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                    page.Add(new ResultRow(reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2),
                        reader.IsDBNull(3) ? null : reader.GetString(3)));
                }
            }

            if (page.Count > 0)
            {
                after = page[^1].Key;
                yield return page;
            }
            if (page.Count < PageSize)
                yield break;
        }
    }

    /// <summary>The batch's name as a safe file name (letters, digits, <c>.-_</c> and spaces), or its id when nothing is left.</summary>
    static string FileName(string name, Guid batchId)
    {
        var safe = new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' or ' ' ? c : '_').ToArray()).Trim(' ', '.');
        return safe.Length == 0 || safe.All(c => c == '_') ? batchId.ToString() : safe[..Math.Min(safe.Length, 100)];
    }
}
