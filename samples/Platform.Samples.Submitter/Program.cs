using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Platform.Samples.Submitter;

// appsettings.json beside the dll, whichever directory the sample is started from.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddSubmitter();

using var host = builder.Build();
await host.StartAsync();
var exitCode = await host.Services.GetRequiredService<Submitter>().Run(host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);
await host.StopAsync();
return exitCode;
