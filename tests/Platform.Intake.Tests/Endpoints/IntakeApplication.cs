using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Hosting;

namespace Platform.Intake.Tests.Endpoints;

/// <summary>
/// The real Intake host (its Program, configuration and middleware) on Kestrel, against its own database and vhost.
/// Kestrel rather than the in-memory TestServer because only a real server enforces the request body limit.
/// </summary>
public sealed class IntakeApplication(string database, string rabbitMq, IReadOnlyDictionary<string, string>? settings = null)
    : WebApplicationFactory<Program>
{
    public const string AdminKey = "intake-tests-admin-key-0123456789";

    /// <summary>Small enough that a test can exceed it cheaply, large enough for every other request here.</summary>
    public const int MaxRequestBodyBytes = 64 * 1024;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        // What ships: Development would turn on developer pages and throw-on-bad-request behaviour.
        builder.UseEnvironment(Environments.Production);
        builder.UseSetting("ConnectionStrings:Platform", database);
        builder.UseSetting("ConnectionStrings:RabbitMq", rabbitMq);
        builder.UseSetting("Platform:AdminApiKey", AdminKey);
        builder.UseSetting("Platform:Secrets:MasterKeyFile", Platform.Testing.LocalInfrastructure.MasterKeyFile);
        builder.UseSetting("Platform:MaxRequestBodyBytes", MaxRequestBodyBytes.ToString(System.Globalization.CultureInfo.InvariantCulture));
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
            builder.UseSetting(key, value);
    }

    /// <summary>A client sending <c>Authorization: Bearer {apiKey}</c>, or no Authorization header at all.</summary>
    public HttpClient Client(string? apiKey)
    {
        var client = CreateClient();
        if (apiKey is not null)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return client;
    }

    public HttpClient Admin() => Client(AdminKey);

    /// <summary>Creates a user with a fresh id (tests never share users) and returns a client authenticated as them.</summary>
    public async Task<(string UserId, HttpClient Client)> CreateUser(string prefix, string tier = "pro")
    {
        var userId = $"{prefix}-{Guid.NewGuid():N}";
        using var admin = Admin();
        using var response = await admin.PostAsJsonAsync("/v1/users", new { userId, tier });
        Assert.That(response.IsSuccessStatusCode, Is.True, $"creating {userId}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        var created = await response.Content.ReadFromJsonAsync<JsonObject>();
        return (userId, Client(created!["apiKey"]!.GetValue<string>()));
    }

    /// <summary>Submits a small valid batch and returns its id.</summary>
    public static async Task<Guid> SubmitBatch(HttpClient user, int tasks = 2)
    {
        using var response = await user.PostAsJsonAsync("/v1/batches", new
        {
            name = "companies",
            instructions = "Research {company}",
            tasks = Enumerable.Range(0, tasks).Select(i => new { key = $"task-{i}", input = new { company = $"Company {i}" } }),
        });
        Assert.That(response.IsSuccessStatusCode, Is.True, $"submitting: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        var accepted = await response.Content.ReadFromJsonAsync<JsonObject>();
        return Guid.Parse(accepted!["batchId"]!.GetValue<string>());
    }
}
