using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Options;

namespace Platform.Intake.ProviderKeys;

public enum KeyCheckOutcome
{
    Accepted,

    /// <summary>401/403: the provider refused the key itself.</summary>
    Rejected,

    /// <summary>429 insufficient_quota: the key is the provider's, but it would fail every task.</summary>
    NoQuota,

    /// <summary>Any other answer: the key could not be judged.</summary>
    ProviderError,

    Unreachable,
    TimedOut,
}

public sealed record KeyCheckResult(KeyCheckOutcome Outcome, string Detail);

/// <summary>
/// Asks the provider whether it takes a key, with the cheapest authenticated call of the OpenAI API
/// (<c>GET {baseUrl}/models</c>). The provider's answer body is never passed on: some echo part of the key.
/// </summary>
public sealed class ProviderKeyCheck(IHttpClientFactory clients, IOptions<ProviderKeyOptions> options)
{
    public const string ClientName = "provider-key-check";

    public async Task<KeyCheckResult> Check(Uri baseUrl, string apiKey, CancellationToken cancellationToken)
    {
        var url = new Uri(baseUrl.AbsoluteUri.TrimEnd('/') + "/models");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.Value.KeyCheckTimeout);
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        try
        {
            using var response = await clients.CreateClient(ClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
                return new(KeyCheckOutcome.Accepted, "");
            if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                return new(KeyCheckOutcome.Rejected, $"the provider rejected this API key ({status} from GET {url})");
            if (response.StatusCode == HttpStatusCode.TooManyRequests
                && (await response.Content.ReadAsStringAsync(timeout.Token)).Contains("insufficient_quota", StringComparison.Ordinal))
                return new(KeyCheckOutcome.NoQuota, "the provider reports no quota left on this API key (insufficient_quota): add credit, then try again");
            return new(KeyCheckOutcome.ProviderError, $"the provider answered {status} to GET {url}, so the key could not be checked: try again later");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new(KeyCheckOutcome.TimedOut,
                $"the provider did not answer GET {url} within {options.Value.KeyCheckTimeout.TotalSeconds:F0} s, so the key could not be checked");
        }
        catch (HttpRequestException ex)
        {
            return new(KeyCheckOutcome.Unreachable, $"the provider at {baseUrl} cannot be reached ({ex.HttpRequestError}), so the key could not be checked");
        }
    }
}
