namespace Platform.Intake.Endpoints;

/// <summary>RFC 9457 problem responses with a machine-readable <c>type</c>.</summary>
public static class Problems
{
    const string TypeBase = "https://platform.local/problems/";

    public static IResult Validation(IDictionary<string, string[]> errors) =>
        Results.ValidationProblem(errors, title: "The request is invalid", type: TypeBase + "validation",
            detail: string.Join("; ", errors.SelectMany(e => e.Value)));

    public static IResult Field(string field, string message) => Validation(new Dictionary<string, string[]> { [field] = [message] });

    public static IResult NotFound(string what) =>
        Results.Problem(title: "Not found", detail: what, statusCode: StatusCodes.Status404NotFound, type: TypeBase + "not-found");

    public static IResult Conflict(string detail) =>
        Results.Problem(title: "Conflict", detail: detail, statusCode: StatusCodes.Status409Conflict, type: TypeBase + "conflict");

    /// <summary>Nothing left to change: the batch ended as <paramref name="status"/> (also given as the <c>batchStatus</c> member: <c>status</c> is the HTTP status).</summary>
    public static IResult AlreadyFinished(Guid batchId, string status) =>
        Results.Problem(title: "Batch already finished", detail: $"batch {batchId} has already finished ({status}): there is nothing to cancel",
            statusCode: StatusCodes.Status409Conflict, type: TypeBase + "batch-finished",
            extensions: new Dictionary<string, object?> { ["batchStatus"] = status });

    public static IResult Forbidden(string detail) =>
        Results.Problem(title: "Forbidden", detail: detail, statusCode: StatusCodes.Status403Forbidden, type: TypeBase + "forbidden");

    public static IResult QuotaExceeded(string detail, int remaining, int monthlyQuota) =>
        Results.Problem(title: "Monthly quota exceeded", detail: detail, statusCode: StatusCodes.Status422UnprocessableEntity,
            type: TypeBase + "quota-exceeded",
            extensions: new Dictionary<string, object?>
            {
                ["remainingQuota"] = remaining,
                ["monthlyQuota"] = monthlyQuota,
                ["errors"] = new Dictionary<string, string[]> { ["tasks"] = [detail] },
            });

    /// <summary>The provider refused the key given (or says it has no quota): 422, naming the field.</summary>
    public static IResult ProviderKeyRefused(string detail) =>
        Results.Problem(title: "Provider key refused", detail: detail, statusCode: StatusCodes.Status422UnprocessableEntity,
            type: TypeBase + "provider-key-rejected",
            extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["apiKey"] = [detail] } });

    /// <summary>The provider could not be asked about a key: 504 when it did not answer in time, 502 otherwise.</summary>
    public static IResult ProviderUnavailable(string detail, bool timedOut) =>
        Results.Problem(title: timedOut ? "Provider timed out" : "Provider unavailable", detail: detail,
            statusCode: timedOut ? StatusCodes.Status504GatewayTimeout : StatusCodes.Status502BadGateway,
            type: TypeBase + (timedOut ? "provider-timeout" : "provider-unavailable"));
}
