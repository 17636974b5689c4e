using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Platform.Data;

namespace Platform.Secrets;

public static class SecretsExtensions
{
    /// <summary>
    /// One application name for every service: Data Protection isolates payloads by it, and the worker must read what
    /// the intake wrote.
    /// </summary>
    public const string ApplicationName = "Platform";

    /// <summary>
    /// Data Protection with its key ring in PostgreSQL and each ring key encrypted by the master key from
    /// <c>Platform:Secrets</c>; the host does not start without a usable master key. For services that read or write
    /// provider keys (intake, worker).
    /// </summary>
    public static IHostApplicationBuilder AddPlatformSecrets(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<SecretsOptions>().BindConfiguration(SecretsOptions.Section);
        AddCore(builder.Services);
        return builder;
    }

    /// <summary>The same, with the master key set in code (test harnesses without configuration).</summary>
    public static IServiceCollection AddPlatformSecrets(this IServiceCollection services, Action<SecretsOptions> configure)
    {
        services.AddOptions<SecretsOptions>().Configure(configure);
        AddCore(services);
        return services;
    }

    static void AddCore(IServiceCollection services)
    {
        services.AddOptions<SecretsOptions>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<SecretsOptions>, SecretsOptionsValidation>();
        services.AddSingleton(sp => MasterKey.From(sp.GetRequiredService<IOptions<SecretsOptions>>().Value));
        services.AddDataProtection()
            .SetApplicationName(ApplicationName)
            .PersistKeysToDbContext<PlatformDbContext>();
        services.AddOptions<KeyManagementOptions>().Configure<MasterKey>((o, key) => o.XmlEncryptor = new MasterKeyXmlEncryptor(key));
        services.AddSingleton<ProviderKeyProtector>();
        services.AddHostedService<KeyRingCheck>();
    }
}
