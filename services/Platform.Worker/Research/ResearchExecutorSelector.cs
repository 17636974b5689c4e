using Microsoft.Extensions.Options;

namespace Platform.Worker.Research;

/// <summary>
/// Which executor runs a task: one whose input has a <c>simulate</c> object always the simulated one (demos, load tests,
/// fault drills); otherwise the OpenAI-compatible one on the user's own credential, or on the platform's when a provider
/// is configured; otherwise the simulated one.
/// </summary>
public sealed class ResearchExecutorSelector(
    SimulatedResearchExecutor simulated, OpenAiResearchExecutor provider, IOptions<ProviderOptions> options) : IResearchExecutor
{
    public Task<ResearchOutcome> Execute(ResearchRequest request, IProgress<string> stage, CancellationToken cancellationToken)
    {
        if (request.Input.ContainsKey("simulate"))
            return simulated.Execute(request, stage, cancellationToken);
        if (request.Credential is not null)
            return provider.Execute(request, stage, cancellationToken);
        var o = options.Value;
        return o.BaseUrl is { } baseUrl
            ? provider.Execute(request with { Credential = new ProviderCredential(null, o.ApiKey ?? "", baseUrl, o.Model) }, stage, cancellationToken)
            : simulated.Execute(request, stage, cancellationToken);
    }
}
