using Platform.Data;
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
        builder.Services.AddSingleton<IResearchExecutor, SimulatedResearchExecutor>();
        builder.Services.AddSingleton<RunningTasks>();
        builder.Services.AddScoped<TaskRunner>();
        builder.Services.AddOutboxRelay();

        builder.AddPlatformBus(x =>
        {
            x.AddConsumer<ExecuteTaskConsumer>(typeof(ExecuteTaskConsumerDefinition));
            x.AddConsumer<BatchCancellationConsumer>(typeof(BatchCancellationConsumerDefinition));
        });
        return builder;
    }
}
