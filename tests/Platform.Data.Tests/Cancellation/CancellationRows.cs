using Microsoft.EntityFrameworkCore;
using Platform.Data.Model;

namespace Platform.Data.Tests.Cancellation;

/// <summary>Writes the rows a scenario starts from, as intake, the dispatcher and workers would have left them.</summary>
public static class CancellationRows
{
    public static readonly DateTimeOffset Start = new(2026, 11, 2, 9, 0, 0, TimeSpan.Zero);

    public static User NewUser(string userId, int reserved, int used = 0) => new()
    {
        UserId = userId,
        Tier = "starter",
        ApiKeyHash = "hash-" + userId,
        CreatedAt = Start,
        QuotaMonth = "2026-11",
        UsedThisMonth = used,
        Reserved = reserved,
    };

    public static Batch NewBatch(Guid batchId, string userId, int total) => new()
    {
        BatchId = batchId,
        UserId = userId,
        Name = "companies",
        Instructions = "Research {company}",
        Total = total,
        CreatedAt = Start,
        Open = true,
    };

    public static ResearchTask NewTask(Guid batchId, string userId, int seq, string status, int? slot = null, bool started = false,
        DateTimeOffset? notBefore = null) => new()
    {
        TaskId = Guid.CreateVersion7(),
        BatchId = batchId,
        UserId = userId,
        Seq = seq,
        Key = $"task-{seq}",
        Input = """{"company": "Acme"}""",
        Status = status,
        Attempts = started ? 1 : 0,
        Slot = slot,
        QueuedAt = Start,
        DispatchedAt = slot is null ? null : Start,
        StartedAt = started ? Start : null,
        FinishedAt = TaskStatuses.IsTerminal(status) ? Start.AddSeconds(1) : null,
        NotBefore = notBefore,
    };

    public static async Task<List<(string Type, string Body)>> OutboxRows(PlatformDbContext db) =>
        (await db.OutboxMessages.AsNoTracking().OrderBy(m => m.Id).Select(m => new { m.MessageType, m.Body }).ToListAsync())
        .Select(m => (m.MessageType.Split('.').Last(), m.Body)).ToList();
}
