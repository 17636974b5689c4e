using Platform.Data;
using Platform.Data.Sagas;
using Platform.Dispatch;
using Platform.Orchestrator.Dispatch;
using Platform.Orchestrator.Faults;
using Platform.Orchestrator.StateMachines;
using Platform.ServiceDefaults;

namespace Platform.Orchestrator;

public static class OrchestratorExtensions
{
    public static IHostApplicationBuilder AddOrchestrator(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddScoped<UserWorkQueue>();
        builder.Services.AddSingleton<DispatchGate>();
        builder.Services.AddScoped<ITaskLedger, TaskRowLedger>();
        builder.Services.AddOptions<FleetOptions>().BindConfiguration(FleetOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<BudgetOptions>().BindConfiguration(BudgetOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddOptions<ReconcilerOptions>().BindConfiguration(ReconcilerOptions.Section).ValidateOnStart();
        builder.Services.AddOptions<TaskRunLimits>().BindConfiguration(TaskRunLimits.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddScoped<OverdueTasks>();
        builder.Services.AddScoped<UncountedTasks>();
        builder.Services.AddHostedService<Reconciler>();
        builder.Services.AddOptions<QueueGaugeOptions>().BindConfiguration(QueueGaugeOptions.Section).ValidateOnStart();
        builder.Services.AddHostedService<QueueGauges>();
        builder.Services.AddOutboxRelay();

        builder.AddPlatformBus(x =>
        {
            x.AddSagaStateMachine<BatchStateMachine, BatchState>(typeof(BatchStateDefinition)).EfCoreRepository();
            x.AddConsumer<UserWorkQueueConsumer>(typeof(UserWorkQueueConsumerDefinition));
            x.AddConsumer<ExecuteTaskFaultConsumer>(typeof(ExecuteTaskFaultConsumerDefinition));
        });
        return builder;
    }
}
