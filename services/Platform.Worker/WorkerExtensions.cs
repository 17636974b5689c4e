using MassTransit;
using Microsoft.Extensions.Options;
using Platform.Data;
using Platform.Dispatch;
using Platform.Secrets;
using Platform.ServiceDefaults;
using Platform.Worker.Execution;
using Platform.Worker.Research;

namespace Platform.Worker;

public static class WorkerExtensions
{
    public static IHostApplicationBuilder AddWorker(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddOptions<WorkerOptions>().BindConfiguration(WorkerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<ProviderOptions>().BindConfiguration(ProviderOptions.Section).ValidateDataAnnotations()
            .Validate(o => o.BaseUrl is null || (o.BaseUrl.IsAbsoluteUri && o.BaseUrl.Scheme is "http" or "https"),
                "Platform:Provider:BaseUrl must be an absolute http or https URL, such as https://api.openai.com/v1")
            .ValidateOnStart();
        builder.Services.AddOptions<BudgetOptions>().BindConfiguration(BudgetOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddHostedService<PlatformCredentialBudget>();
        builder.Services.AddSingleton<SimulatedResearchExecutor>();
        builder.Services.AddSingleton<OpenAiResearchExecutor>();
        builder.Services.AddSingleton<IResearchExecutor, ResearchExecutorSelector>();
        // Users' own provider keys are decrypted here, just before the call that uses them (docs/secrets.md).
        builder.AddPlatformSecrets(readOnly: true);
        builder.Services.AddScoped<UserCredentials>();
        builder.Services.AddSingleton<RunningTasks>();
        builder.Services.AddScoped<TaskRunner>();
        builder.Services.AddScoped<UserWorkQueue>();
        builder.Services.AddOutboxRelay();
        builder.Services.AddHostedService<FleetMembership>();

        builder.AddPlatformBus(x =>
        {
            x.AddConsumer<ExecuteTaskConsumer>(typeof(ExecuteTaskConsumerDefinition));
            x.AddConsumer<BatchCancellationConsumer>(typeof(BatchCancellationConsumerDefinition));
        });
        // After the bus, so that it stops before it and sends what ended while the bus still runs.
        builder.Services.AddSingleton<BatchEndNotices>();
        builder.Services.AddSingleton<TaskEnds>();
        builder.Services.AddHostedService<BatchEndNoticeSender>();

        // Graceful shutdown: the bus stops consuming at once and waits for running tasks up to ShutdownTimeout; the host
        // allows a little more, for the services that stop after it.
        builder.Services.AddOptions<MassTransitHostOptions>().Configure<IOptions<WorkerOptions>>((bus, worker) =>
            bus.StopTimeout = worker.Value.ShutdownTimeout);
        builder.Services.AddOptions<HostOptions>().Configure<IOptions<WorkerOptions>>((host, worker) =>
            host.ShutdownTimeout = worker.Value.ShutdownTimeout + TimeSpan.FromSeconds(10));
        return builder;
    }
}
