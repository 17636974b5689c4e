using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using Platform.Testing;

namespace Platform.Office.Tests;

/// <summary>One browser context on the office page: its own cookies, every request it made, and what its desks show.</summary>
public sealed class Office : IAsyncDisposable
{
    readonly List<string> _requests = [];
    int _navigations;

    Office(IBrowserContext context, IPage page, Uri baseAddress)
    {
        Context = context;
        Page = page;
        BaseAddress = baseAddress;
        page.Request += (_, request) => { lock (_requests) _requests.Add(request.Url); };
        page.FrameNavigated += (_, frame) => { if (frame == page.MainFrame) Interlocked.Increment(ref _navigations); };
    }

    public IBrowserContext Context { get; }
    public IPage Page { get; }
    public Uri BaseAddress { get; }

    /// <summary>Main-frame navigations since the page opened (1: the first load; more: a reload or a link followed).</summary>
    public int Navigations => Volatile.Read(ref _navigations);

    public IReadOnlyList<string> Requests { get { lock (_requests) return [.. _requests]; } }

    public static async Task<Office> Open(Uri baseAddress, int width = 1280, int height = 900)
    {
        var context = await AssemblySetup.Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = baseAddress.ToString(),
            ViewportSize = new ViewportSize { Width = width, Height = height },
            AcceptDownloads = true,
        });
        var page = await context.NewPageAsync();
        var office = new Office(context, page, baseAddress);
        await page.GotoAsync("/");
        return office;
    }

    public async Task SignIn(string apiKey)
    {
        await Page.GetByLabel("API key").FillAsync(apiKey);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(Page.Locator("#who-text")).ToContainTextAsync("Signed in as");
    }

    public ILocator Desks => Page.Locator("#desks .desk");

    public ILocator Batch(Guid batchId) => Page.Locator($"#batches .batch[data-batch-id='{batchId}']");

    /// <summary>What the desks show now: slot → task id (null when idle).</summary>
    public async Task<Dictionary<int, string?>> ShownDesks()
    {
        var desks = await Page.EvaluateAsync<System.Text.Json.JsonElement>(
            "() => [...document.querySelectorAll('#desks .desk')].map(d => ({ slot: Number(d.dataset.slot), taskId: d.dataset.taskId || null }))");
        return desks.EnumerateArray().ToDictionary(d => d.GetProperty("slot").GetInt32(), d => d.GetProperty("taskId").GetString());
    }

    /// <summary>A screenshot kept with the test's results, named after what it shows.</summary>
    public async Task Screenshot(string whatItShows)
    {
        var folder = Path.Combine(TestContext.CurrentContext.WorkDirectory, "office-screenshots");
        Directory.CreateDirectory(folder);
        var width = Page.ViewportSize?.Width ?? 0;
        var file = Path.Combine(folder, $"{whatItShows}-{width}px.png");
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = file, FullPage = true });
        TestContext.AddTestAttachment(file, $"{whatItShows} at {width} px wide");
    }

    public async ValueTask DisposeAsync() => await Context.DisposeAsync();
}

/// <summary>The API side of a browser test: users with their keys, batches, the queue.</summary>
public static class Api
{
    /// <summary>Creates a user (a fresh id per call) and returns the id and the key typed into the sign-in form.</summary>
    public static async Task<(string UserId, string ApiKey)> CreateUser(PlatformCluster cluster, string prefix, string tier)
    {
        var userId = $"{prefix}-{Guid.NewGuid():N}";
        using var admin = cluster.Client();
        using var response = await admin.PostAsJsonAsync("/v1/users", new { userId, tier });
        await PlatformCluster.EnsureSuccess(response);
        return (userId, (await response.Content.ReadFromJsonAsync<JsonObject>())!["apiKey"]!.GetValue<string>());
    }

    /// <summary>Slot → task id as <c>GET /v1/queue</c> has them.</summary>
    public static async Task<Dictionary<int, string?>> HeldDesks(HttpClient user)
    {
        var queue = await PlatformCluster.GetJson(user, "/v1/queue");
        return queue["slots"]!.AsArray().Select(s => s!.AsObject())
            .ToDictionary(s => s["slot"]!.GetValue<int>(), s => s["taskId"]?.GetValue<string>());
    }

    public static async Task<Guid> Submit(HttpClient user, string name, int tasks, int durationMs)
    {
        using var response = await user.PostAsJsonAsync("/v1/batches", new
        {
            name,
            instructions = "Research {company}",
            tasks = Enumerable.Range(0, tasks).Select(i => new { key = $"k-{i:D3}", input = new { company = $"Company {i}", simulate = new { durationMs } } }),
        });
        await PlatformCluster.EnsureSuccess(response);
        return Guid.Parse((await response.Content.ReadFromJsonAsync<JsonObject>())!["batchId"]!.GetValue<string>());
    }

    public static async Task<List<JsonObject>> TaskRows(HttpClient user, Guid batchId)
    {
        var page = await PlatformCluster.GetJson(user, $"/v1/batches/{batchId}/tasks?limit=1000");
        return page["items"]!.AsArray().Select(t => t!.AsObject()).ToList();
    }

    public static string Describe(Dictionary<int, string?> desks) =>
        string.Join(", ", desks.OrderBy(d => d.Key).Select(d => $"{d.Key}:{d.Value ?? "idle"}"));
}
