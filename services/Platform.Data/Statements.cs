using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace Platform.Data;

/// <summary>
/// Statements that go to PostgreSQL together, in one round trip, on a unit of work's connection and in its transaction.
/// A task's end and the refill of its slot are on the way from one task to the next on a slot, so they are sent as a
/// few such batches rather than one statement at a time. Each statement in a batch runs after the one before it, in the
/// same transaction, and (read committed) takes its own snapshot when it starts.
/// </summary>
public static partial class Statements
{
    /// <summary>A statement with positional parameters: <c>$1</c>, <c>$2</c>, … (null is sent as SQL NULL).</summary>
    public static NpgsqlBatchCommand Statement(string sql, params object?[] parameters)
    {
        var statement = new NpgsqlBatchCommand(sql);
        foreach (var value in parameters)
            statement.Parameters.Add(new NpgsqlParameter { Value = value ?? DBNull.Value });
        return statement;
    }

    /// <summary>
    /// The same statement from SQL written for EF's raw-SQL methods, whose placeholders are <c>{0}</c>, <c>{1}</c>, …; so
    /// SQL that runs both on its own and in a batch is written once.
    /// </summary>
    public static NpgsqlBatchCommand FromRaw(string sql, params object?[] parameters) =>
        Statement(Placeholder().Replace(sql, m => "$" + (int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) + 1)), parameters);

    /// <summary>A batch of statements on the unit of work's connection, inside its transaction (which must have begun).</summary>
    public static NpgsqlBatch Batch(this PlatformDbContext db, params NpgsqlBatchCommand[] statements)
    {
        var transaction = db.Database.CurrentTransaction
                          ?? throw new InvalidOperationException("A batch of statements belongs to a transaction: begin one first.");
        var batch = new NpgsqlBatch((NpgsqlConnection)db.Database.GetDbConnection(), (NpgsqlTransaction)transaction.GetDbTransaction());
        foreach (var statement in statements)
            batch.BatchCommands.Add(statement);
        return batch;
    }

    [GeneratedRegex(@"\{(\d+)\}")]
    private static partial Regex Placeholder();
}
