using Microsoft.Extensions.Options;
using Platform.Data;

namespace Platform.Worker.Research;

/// <summary>
/// Writes the platform credential's configured limits (<c>Platform:Provider:Rpm</c>/<c>Tpm</c>) and its key's hint into its
/// budget row when the worker starts, so that every dispatcher (orchestrators and workers) holds tasks to them. Until
/// then, and when they are unset, the budget knows what the provider's headers taught it (docs/fair-share.md).
/// </summary>
public sealed partial class PlatformCredentialBudget(IServiceScopeFactory scopes, IOptions<ProviderOptions> options, TimeProvider clock,
    ILogger<PlatformCredentialBudget> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var o = options.Value;
        if (!o.Configured)
            return;
        var hint = o.ApiKey is { Length: >= 4 } key ? "…" + key[^4..] : null;
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PlatformDbContext>();
            await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
            await using (var batch = db.Batch(CredentialBudgets.ConfigureStatement(o.Rpm, o.Tpm, hint, clock.GetUtcNow())))
                await batch.ExecuteNonQueryAsync(cancellationToken);
            await tx.CommitAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Not worth failing the worker's start: the headers teach the budget anyway, and the next worker's start writes it.
            LogNotWritten(logger, ex);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not write the platform credential's configured limits into its budget row")]
    static partial void LogNotWritten(ILogger logger, Exception ex);
}
