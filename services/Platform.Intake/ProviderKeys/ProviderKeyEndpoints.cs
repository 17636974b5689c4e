using System.ComponentModel;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Platform.Contracts;
using Platform.Data;
using Platform.Data.Model;
using Platform.Data.Tiers;
using Platform.Intake.Auth;
using Platform.Intake.Endpoints;
using Platform.Intake.OpenApi;
using Platform.Secrets;

namespace Platform.Intake.ProviderKeys;

public sealed record PutProviderKeyRequest(
    [property: Description("The user's key at the provider, 8 to 1024 characters. Checked with the provider, stored encrypted, never shown again.")] string? ApiKey,
    [property: Description("The provider's OpenAI-compatible base URL (absolute http(s), ending before /chat/completions); default: the platform's provider.")] string? BaseUrl,
    [property: Description("The model to call with this key; default: the platform's model.")] string? Model);

/// <summary>A user's provider key as the API shows it: never the key, only its hint.</summary>
public sealed record ProviderKeyView(
    string KeyHint,
    string BaseUrl,
    string Model,
    string Status,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Reason,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? RejectedAt)
{
    public static ProviderKeyView? Of(ProviderKey? key) =>
        key is null ? null : new(key.KeyHint, key.BaseUrl, key.Model, key.Status, key.Reason, key.RejectedAt);
}

/// <summary>
/// <c>PUT/DELETE /v1/users/{userId}/provider-key</c> (BYOK): a key is checked against the provider, stored protected
/// (docs/secrets.md), and while it is active the user has the tier's own-key slots.
/// </summary>
public static partial class ProviderKeyEndpoints
{
    public const int MinApiKeyLength = 8;
    public const int MaxApiKeyLength = 1024;
    public const int MaxBaseUrlLength = 2048;
    public const int MaxModelLength = 200;

    public static void MapProviderKeyEndpoints(this IEndpointRouteBuilder app)
    {
        var keys = app.MapGroup("/v1/users/{userId}/provider-key").RequireAuthorization();
        const string NotFound = "No such user, or another user's id (answered exactly alike; problem type `https://platform.local/problems/not-found`).";
        keys.MapPut("/", Put)
            .WithSummary("Set a user's own provider key")
            .WithDescription("Checks the key with one cheap authenticated call to the provider (`GET {baseUrl}/models`), stores it encrypted " +
                "and answers only its hint. While it is active the user has the tier's own-key slots and their tasks call the provider " +
                "with it. The admin may set any user's key; a user only their own.")
            .ReadsJsonBody(new PutProviderKeyRequest("sk-proj-…", "https://api.openai.com/v1", "gpt-4o-mini"))
            .Answers(StatusCodes.Status200OK, "The key was accepted.",
                new ProviderKeyView("…abcd", "https://api.openai.com/v1", "gpt-4o-mini", ProviderKeyStatuses.Active, null, null))
            .FieldProblem(StatusCodes.Status400BadRequest, "`apiKey`, `baseUrl` or `model` is missing or out of range; `errors` names the field.")
            .Problem(StatusCodes.Status404NotFound, NotFound)
            .Problem(StatusCodes.Status422UnprocessableEntity,
                "The provider refused the key (problem type `https://platform.local/problems/provider-key-rejected`; `detail` gives its reason).")
            .Problem(StatusCodes.Status502BadGateway, "The provider could not be reached or answered an error (`provider-unavailable`): nothing was stored.")
            .Problem(StatusCodes.Status504GatewayTimeout, "The provider did not answer in time (`provider-timeout`): nothing was stored.");
        keys.MapDelete("/", Delete)
            .WithSummary("Remove a user's own provider key")
            .WithDescription("Deletes the stored key; the user's slots return to the tier's and their tasks use the platform's provider.")
            .AnswersNoContent("The key is gone (also when there was none).")
            .Problem(StatusCodes.Status404NotFound, NotFound);
    }

    static async Task<IResult> Put(string userId, PutProviderKeyRequest request, HttpContext http, PlatformDbContext db,
        ProviderKeyCheck check, ProviderKeyProtector protector, IOptions<ProviderKeyOptions> provider, IOptionsMonitor<TierOptions> tiers,
        ILoggerFactory loggers, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (!MayManage(http, userId) || !await db.Users.AnyAsync(u => u.UserId == userId, cancellationToken))
            return Problems.NotFound($"user '{userId}' does not exist");

        var errors = Validate(request, provider.Value, out var baseUrl, out var model);
        if (errors.Count > 0)
            return Problems.Validation(errors);
        var apiKey = request.ApiKey!;

        var checkedKey = await check.Check(baseUrl!, apiKey, cancellationToken);
        switch (checkedKey.Outcome)
        {
            case KeyCheckOutcome.Rejected or KeyCheckOutcome.NoQuota:
                return Problems.ProviderKeyRefused(checkedKey.Detail);
            case KeyCheckOutcome.ProviderError or KeyCheckOutcome.Unreachable or KeyCheckOutcome.TimedOut:
                return Problems.ProviderUnavailable(checkedKey.Detail, checkedKey.Outcome == KeyCheckOutcome.TimedOut);
        }

        var stored = new ProviderKey
        {
            UserId = userId,
            CredentialId = Guid.NewGuid(),
            ProtectedKey = protector.Protect(userId, apiKey),
            KeyHint = ProviderKeyProtector.Hint(apiKey),
            BaseUrl = baseUrl!.AbsoluteUri,
            Model = model!,
            Status = ProviderKeyStatuses.Active,
            CreatedAt = clock.GetUtcNow(),
        };

        // Under the user's dispatch lock, like a tier change: once this answers, every decision uses the new slots.
        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        await DispatchLock.Acquire(db, userId, cancellationToken);
        var user = await db.Users.SingleOrDefaultAsync(u => u.UserId == userId, cancellationToken);
        if (user is null)
            return Problems.NotFound($"user '{userId}' does not exist");

        // A new credential id each time: a rejection of the previous key, still in flight, cannot mark this one.
        await db.ProviderKeys.Where(k => k.UserId == userId).ExecuteDeleteAsync(cancellationToken);
        db.ProviderKeys.Add(stored);
        SetOwnKey(db, user, true, clock);
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        LogKeyStored(loggers.CreateLogger(typeof(ProviderKeyEndpoints).FullName!), userId, stored.CredentialId, stored.KeyHint,
            tiers.CurrentValue.ConcurrencyOf(user.Tier, true));
        return Results.Ok(ProviderKeyView.Of(stored));
    }

    static async Task<IResult> Delete(string userId, HttpContext http, PlatformDbContext db, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (!MayManage(http, userId))
            return Problems.NotFound($"user '{userId}' does not exist");

        await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
        await DispatchLock.Acquire(db, userId, cancellationToken);
        var user = await db.Users.SingleOrDefaultAsync(u => u.UserId == userId, cancellationToken);
        if (user is null)
            return Problems.NotFound($"user '{userId}' does not exist");

        await db.ProviderKeys.Where(k => k.UserId == userId).ExecuteDeleteAsync(cancellationToken);
        SetOwnKey(db, user, false, clock);
        await db.SaveChangesAsync(cancellationToken);
        await tx.CommitAsync(cancellationToken);
        return Results.NoContent();
    }

    /// <summary>The flag the dispatcher reads for the slots, and the event that makes its next decision happen now.</summary>
    static void SetOwnKey(PlatformDbContext db, User user, bool ownKey, TimeProvider clock)
    {
        var changed = user.OwnProviderKey != ownKey;
        user.OwnProviderKey = ownKey;
        if (changed)
            db.Publish(new UserTierChanged(user.UserId, user.Tier, ownKey, clock.GetUtcNow()));
    }

    /// <summary>The admin, or the user themself; anyone else is told the user does not exist.</summary>
    static bool MayManage(HttpContext http, string userId) => http.User.IsAdmin() || http.User.UserId() == userId;

    static Dictionary<string, string[]> Validate(PutProviderKeyRequest request, ProviderKeyOptions provider, out Uri? baseUrl, out string? model)
    {
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrEmpty(request.ApiKey))
            errors["apiKey"] = ["apiKey is required"];
        else if (request.ApiKey.Length is < MinApiKeyLength or > MaxApiKeyLength)
            errors["apiKey"] = [$"apiKey must be {MinApiKeyLength} to {MaxApiKeyLength} characters"];
        else if (!ApiKeyPattern().IsMatch(request.ApiKey))
            errors["apiKey"] = ["apiKey must be printable ASCII without spaces"];

        baseUrl = null;
        if (request.BaseUrl is null)
        {
            baseUrl = provider.BaseUrl;
            if (baseUrl is null)
                errors["baseUrl"] = ["baseUrl is required: the platform has no provider of its own configured (Platform:Provider:BaseUrl)"];
        }
        else if (request.BaseUrl.Length > MaxBaseUrlLength)
            errors["baseUrl"] = [$"baseUrl must be at most {MaxBaseUrlLength} characters"];
        else if (!Uri.TryCreate(request.BaseUrl, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            errors["baseUrl"] = ["baseUrl must be an absolute http or https URL, such as https://api.openai.com/v1"];
        else if (url.UserInfo.Length > 0 || url.Query.Length > 0 || url.Fragment.Length > 0)
            errors["baseUrl"] = ["baseUrl must not carry credentials, a query or a fragment: it is shown back as given"];
        else
            baseUrl = url;

        model = request.Model ?? provider.Model;
        if (string.IsNullOrWhiteSpace(model) || model.Length > MaxModelLength)
            errors["model"] = [$"model must be 1 to {MaxModelLength} characters"];
        return errors;
    }

    [GeneratedRegex(@"^[\x21-\x7E]+$")]
    private static partial Regex ApiKeyPattern();

    [LoggerMessage(Level = LogLevel.Information, Message = "User {UserId} gave provider key {KeyHint} (credential {CredentialId}): {Concurrency} slots")]
    private static partial void LogKeyStored(ILogger logger, string userId, Guid credentialId, string keyHint, int concurrency);
}
