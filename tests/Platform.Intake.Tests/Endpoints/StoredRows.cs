using Npgsql;

namespace Platform.Intake.Tests.Endpoints;

/// <summary>What a refused request must not have written, read straight from the host's database.</summary>
public static class StoredRows
{
    public static async Task<(long Batches, long Tasks)> Of(string userId, string? database = null)
    {
        await using var connection = new NpgsqlConnection(database ?? AssemblySetup.Database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT (SELECT count(*) FROM batches WHERE user_id = @u), (SELECT count(*) FROM tasks WHERE user_id = @u)", connection);
        command.Parameters.AddWithValue("u", userId);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }
}
