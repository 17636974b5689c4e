using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;

namespace Platform.Data;

/// <summary>
/// Several statements in one round trip to PostgreSQL, on the context's own connection and transaction. Each statement
/// takes its own snapshot when it runs, so one placed after a lock reads what the lock protects.
/// </summary>
public static class DbBatch
{
    /// <summary>A statement with positional parameters (<c>$1</c>, <c>$2</c>, …).</summary>
    public static NpgsqlBatchCommand Statement(string sql, params object[] parameters)
    {
        var statement = new NpgsqlBatchCommand(sql);
        foreach (var value in parameters)
            statement.Parameters.Add(new NpgsqlParameter { Value = value });
        return statement;
    }

    /// <summary>The statements as one batch in the context's transaction (begin one first).</summary>
    public static NpgsqlBatch Of(PlatformDbContext db, params NpgsqlBatchCommand[] statements)
    {
        var transaction = db.Database.CurrentTransaction
            ?? throw new InvalidOperationException("A batch of statements runs inside the unit of work's transaction: begin one first.");
        var batch = new NpgsqlBatch((NpgsqlConnection)db.Database.GetDbConnection(), (NpgsqlTransaction)transaction.GetDbTransaction());
        foreach (var statement in statements)
            batch.BatchCommands.Add(statement);
        return batch;
    }

    /// <summary>Runs the statements that return no rows; returns the rows each one changed.</summary>
    public static async Task<int[]> Execute(PlatformDbContext db, NpgsqlBatchCommand[] statements, CancellationToken cancellationToken)
    {
        await using var batch = Of(db, statements);
        await batch.ExecuteNonQueryAsync(cancellationToken);
        return statements.Select(s => s.RecordsAffected).ToArray();
    }
}
