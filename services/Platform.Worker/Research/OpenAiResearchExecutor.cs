using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using OpenAI;
using Platform.Data;
using Platform.Worker.Execution;

namespace Platform.Worker.Research;

/// <summary>
/// Research through any OpenAI-compatible chat completions API (OpenAI, OpenRouter, vLLM, Ollama, LiteLLM, the stand-in):
/// the batch's instructions filled from the task's input, answered as structured JSON (see <see cref="ResearchAnswer"/>).
/// The OpenAI client's own retries are off: a failed call fails the attempt (<see cref="ProviderFailures"/>), and the
/// platform retries it through the task's <c>not_before</c>, so a task waiting for a provider's reset holds no slot.
/// </summary>
/// <remarks>
/// One client per credential (base URL and key; the cache is keyed by the key's hash, never the key). Each client learns
/// which response_format its provider accepts: json_schema first, then JSON mode, then plain text with a tolerant
/// parse; a 400 that names response_format moves it one step down and the call is repeated at once.
/// Pointing it at OpenAI, OpenRouter, vLLM, Ollama or LiteLLM, and how each failure is treated: docs/providers.md.
/// </remarks>
public sealed partial class OpenAiResearchExecutor(IOptions<ProviderOptions> options, ILogger<OpenAiResearchExecutor> logger)
    : IResearchExecutor, IDisposable
{
    readonly ConcurrentDictionary<string, Client> _clients = new(StringComparer.Ordinal);

    public async Task<ResearchOutcome> Execute(ResearchRequest request, IProgress<string> stage, CancellationToken cancellationToken)
    {
        var credential = request.Credential
                         ?? throw new InvalidOperationException("The OpenAI-compatible executor runs a task on a credential: none was given.");
        var o = options.Value;
        var client = ClientFor(credential, o);
        List<ChatMessage> messages = [new(ChatRole.System, ResearchAnswer.SystemPrompt), new(ChatRole.User, Prompt(request))];

        using var span = WorkerTelemetry.StartStage("provider");
        span?.SetTag("gen_ai.request.model", credential.Model);
        span?.SetTag("server.address", credential.BaseUrl.Host);
        stage.Report("provider");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(o.Timeout);
        var limits = RateLimitHeaders.Capture();
        ChatResponse response;
        while (true)
        {
            var format = client.Format;
            try
            {
                response = await client.Chat.GetResponseAsync(messages, ChatOptions(credential, o, format), timeout.Token);
                break;
            }
            catch (ClientResultException ex) when (format < Client.PlainText && ProviderFailures.IsUnsupportedResponseFormat(ex))
            {
                // Not every OpenAI-compatible server has structured outputs: step down and ask again, once per step.
                if (Interlocked.CompareExchange(ref client.Format, format + 1, format) == format)
                    LogFormatStepDown(logger, credential.BaseUrl, Client.FormatName(format), Client.FormatName(format + 1));
            }
            catch (ClientResultException ex)
            {
                throw Failed(span, ProviderFailures.From(ex, credential));
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                throw Failed(span, ProviderFailures.Timeout(o.Timeout));
            }
            catch (HttpRequestException ex)
            {
                throw Failed(span, ProviderFailures.Unreachable(ex, credential));
            }
        }

        stage.Report("parse");
        var usage = new TokenUsage((int)(response.Usage?.InputTokenCount ?? 0), (int)(response.Usage?.OutputTokenCount ?? 0),
            response.ModelId ?? credential.Model);
        span?.SetTag("gen_ai.usage.input_tokens", usage.PromptTokens);
        span?.SetTag("gen_ai.usage.output_tokens", usage.CompletionTokens);
        if (response.FinishReason == ChatFinishReason.Length)
        {
            throw Failed(span, new ResearchFailedException(
                $"the provider cut the answer off at {o.MaxOutputTokens} tokens (finish_reason length); raise Platform:Provider:MaxOutputTokens", transient: false));
        }

        var result = ResearchAnswer.Parse(response.Text, out var problem)
                     ?? throw Failed(span, new ResearchFailedException($"the provider's answer is not the expected research JSON: {problem}", transient: false));
        // The provider holds the prompt and the answer's ceiling of its token budget while a call runs: the next
        // dispatches reserve that much for this user (docs/fair-share.md, "Provider budgets").
        return new ResearchOutcome(result, usage, limits.Limits, usage.PromptTokens + o.MaxOutputTokens);
    }

    static ResearchFailedException Failed(Activity? span, ResearchFailedException failure)
    {
        span?.SetStatus(ActivityStatusCode.Error, failure.Message);
        return failure;
    }

    /// <summary>The filled instructions; input fields the template does not name go before them as context.</summary>
    static string Prompt(ResearchRequest request)
    {
        var filled = Instructions.Fill(request.Instructions, request.Input);
        var unnamed = new JsonObject();
        foreach (var (name, value) in request.Input)
        {
            if (!request.Instructions.Contains("{" + name + "}", StringComparison.Ordinal))
                unnamed[name] = value?.DeepClone();
        }

        return unnamed.Count == 0 ? filled : $"Context: {unnamed.ToJsonString()}\n\n{filled}";
    }

    static ChatOptions ChatOptions(ProviderCredential credential, ProviderOptions o, int format) => new()
    {
        ModelId = credential.Model,
        MaxOutputTokens = o.MaxOutputTokens,
        Temperature = 0.2f,
        ResponseFormat = format switch
        {
            Client.JsonSchema => ChatResponseFormat.ForJsonSchema(ResearchAnswer.Schema, ResearchAnswer.SchemaName,
                "A research result: the findings, a summary, sources and a confidence."),
            Client.JsonMode => ChatResponseFormat.Json,
            _ => ChatResponseFormat.Text,
        },
    };

    Client ClientFor(ProviderCredential credential, ProviderOptions o)
    {
        var baseUrl = credential.BaseUrl.ToString().TrimEnd('/');
        var cacheKey = baseUrl + "\n" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(credential.ApiKey)));
        return _clients.GetOrAdd(cacheKey, static (_, state) =>
        {
            var clientOptions = new OpenAIClientOptions
            {
                Endpoint = new Uri(state.BaseUrl),
                // Retries are the platform's (a task's not_before), never the client's: the pipeline's default policy
                // would retry 429s and 5xx three times inside the attempt, holding the slot and spending the budget.
                RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
                // The chat client's answer carries no headers: this reads the rate-limit ones on the way back.
                // The executor's own timeout (Platform:Provider:Timeout) acts first and says so; this is a backstop.
                NetworkTimeout = state.Timeout + TimeSpan.FromSeconds(10),
            };
            // Servers that want no key (Ollama, vLLM) ignore the header; the client needs a non-empty one.
            clientOptions.AddPolicy(RateLimitHeaders.Instance, PipelinePosition.PerTry);
            var key = new ApiKeyCredential(state.ApiKey.Length == 0 ? "none" : state.ApiKey);
            var chat = new OpenAIClient(key, clientOptions).GetChatClient(state.Model).AsIChatClient();
            return new Client(chat);
        }, (BaseUrl: baseUrl, credential.ApiKey, credential.Model, o.Timeout));
    }

    public void Dispose()
    {
        foreach (var client in _clients.Values)
            client.Chat.Dispose();
        _clients.Clear();
    }

    sealed class Client(IChatClient chat)
    {
        public const int JsonSchema = 0;
        public const int JsonMode = 1;
        public const int PlainText = 2;

        public IChatClient Chat { get; } = chat;

        /// <summary>The response_format this provider has accepted so far; only ever steps down.</summary>
        public int Format;

        public static string FormatName(int format) => format switch
        {
            JsonSchema => "json_schema",
            JsonMode => "json_object",
            _ => "text",
        };
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The provider at {BaseUrl} does not accept response_format {Format}; using {Next} from now on")]
    static partial void LogFormatStepDown(ILogger logger, Uri baseUrl, string format, string next);
}

/// <summary>
/// Reads a response's <c>x-ratelimit-limit-*</c> headers into the capture the current call set up
/// (<see cref="Capture"/>): the chat client's answer does not carry them, and the budget learns its limits from them.
/// </summary>
sealed class RateLimitHeaders : PipelinePolicy
{
    public static readonly RateLimitHeaders Instance = new();

    static readonly AsyncLocal<Captured?> Current = new();

    /// <summary>Starts capturing for the calls this async flow makes from here on.</summary>
    public static Captured Capture() => Current.Value = new Captured();

    public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        ProcessNext(message, pipeline, currentIndex);
        Read(message);
    }

    public override async ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex)
    {
        await ProcessNextAsync(message, pipeline, currentIndex);
        Read(message);
    }

    static void Read(PipelineMessage message)
    {
        if (Current.Value is { } captured && message.Response is { } response)
            captured.Limits = ProviderFailures.Limits(response.Headers) ?? captured.Limits;
    }

    public sealed class Captured
    {
        public ProviderLimits? Limits { get; set; }
    }
}
