using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.DataProtection.KeyManagement;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
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
    /// <param name="builder">The service's host.</param>
    /// <param name="readOnly">
    /// The service only decrypts (the worker): it never adds a key to the ring, so a reader started with another master
    /// key cannot write a key the others cannot read. The intake, which encrypts, makes and rolls the ring's keys.
    /// </param>
    public static IHostApplicationBuilder AddPlatformSecrets(this IHostApplicationBuilder builder, bool readOnly = false)
    {
        builder.Services.AddOptions<SecretsOptions>().BindConfiguration(SecretsOptions.Section);
        AddCore(builder.Services, readOnly);
        return builder;
    }

    /// <summary>The same, with the master key set in code (test harnesses without configuration).</summary>
    public static IServiceCollection AddPlatformSecrets(this IServiceCollection services, Action<SecretsOptions> configure, bool readOnly = false)
    {
        services.AddOptions<SecretsOptions>().Configure(configure);
        AddCore(services, readOnly);
        return services;
    }

    static void AddCore(IServiceCollection services, bool readOnly)
    {
        services.AddOptions<SecretsOptions>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<SecretsOptions>, SecretsOptionsValidation>();
        services.AddSingleton(sp => MasterKey.From(sp.GetRequiredService<IOptions<SecretsOptions>>().Value));
        var dataProtection = services.AddDataProtection()
            .SetApplicationName(ApplicationName)
            .PersistKeysToDbContext<PlatformDbContext>();
        // A reader still decrypts with an expired key (Data Protection falls back to it); only an empty ring stops it,
        // and then there is nothing to decrypt yet.
        if (readOnly)
            dataProtection.DisableAutomaticKeyGeneration();
        services.AddOptions<KeyManagementOptions>().Configure<MasterKey>((o, key) => o.XmlEncryptor = new MasterKeyXmlEncryptor(key));
        services.AddSingleton<ProviderKeyProtector>();
        services.AddHostedService(sp => new KeyRingCheck(sp.GetRequiredService<IKeyManager>(), sp.GetRequiredService<IServiceScopeFactory>(),
            makesFirstKey: !readOnly, sp.GetRequiredService<ILogger<KeyRingCheck>>()));
    }
}
