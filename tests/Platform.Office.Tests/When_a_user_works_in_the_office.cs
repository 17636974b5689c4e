using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using Platform.Testing;

namespace Platform.Office.Tests;

/// <summary>A user in the office page, in a real browser, against real intake, orchestrator and worker processes.</summary>
[TestFixture]
public sealed class When_a_user_works_in_the_office
{
    static readonly TimeSpan BatchDeadline = TimeSpan.FromSeconds(90);

    static PlatformCluster Cluster => AssemblySetup.Cluster;

    [Test]
    public async Task Should_sign_in_with_a_key_kept_out_of_the_page_s_reach()
    {
        var (userId, key) = await Api.CreateUser(Cluster, "office-signin", "starter");
        await using var office = await Office.Open(Cluster.Intake.BaseAddress);

        await office.Page.GetByLabel("API key").FillAsync("pk_wrong");
        await office.Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(office.Page.Locator("#sign-in-error")).ToContainTextAsync("unknown");
        await office.SignIn(key);

        var cookies = await office.Context.CookiesAsync();
        var session = cookies.SingleOrDefault(c => c.Name == "platform_session");
        var script = await office.Page.EvaluateAsync<System.Text.Json.JsonElement>(
            "() => ({ cookie: document.cookie, local: localStorage.length, session: sessionStorage.length, url: location.href })");
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(await office.Page.Locator("#who-text").TextContentAsync(), Does.Contain(userId));
            Assert.That(session, Is.Not.Null, "the session cookie is set");
            Assert.That(session?.HttpOnly, Is.True);
            Assert.That(session?.SameSite, Is.EqualTo(SameSiteAttribute.Strict));
            Assert.That(script.GetProperty("cookie").GetString(), Does.Not.Contain("platform_session"), "the page's script cannot read it");
            Assert.That(script.GetProperty("local").GetInt32() + script.GetProperty("session").GetInt32(), Is.Zero, "nothing in web storage");
            Assert.That(script.GetProperty("url").GetString(), Does.Not.Contain(key));
            Assert.That(await office.Page.Locator("#api-key").InputValueAsync(), Is.Empty, "the key is cleared from the form");
        });
    }

    [TestCase("free", 1)]
    [TestCase("starter", 3)]
    [TestCase("pro", 10)]
    public async Task Should_show_one_desk_per_slot_of_the_tier(string tier, int slots)
    {
        var (_, key) = await Api.CreateUser(Cluster, "office-desks", tier);
        await using var office = await Office.Open(Cluster.Intake.BaseAddress);

        await office.SignIn(key);

        await Assertions.Expect(office.Desks).ToHaveCountAsync(slots);
        Assert.That(await office.Page.Locator("#q-tier").TextContentAsync(), Does.StartWith(tier));
    }

    [Test]
    public async Task Should_bring_a_batch_submitted_from_a_csv_file_to_100_percent_without_a_reload()
    {
        var (_, key) = await Api.CreateUser(Cluster, "office-submit", "starter");
        await using var office = await Office.Open(Cluster.Intake.BaseAddress);
        await office.SignIn(key);
        var navigations = office.Navigations;

        // No key column: the keys are the row numbers. The simulate column is JSON, sent as an object.
        var csv = new StringBuilder("company,simulate\r\n");
        for (var i = 0; i < 6; i++)
            csv.Append(CultureInfo.InvariantCulture, $"\"Company {i}, Inc.\",\"{{\"\"durationMs\"\":1500}}\"\r\n");
        await office.Page.GetByLabel("Tasks (CSV file").SetInputFilesAsync(new FilePayload
        {
            Name = "six companies.csv",
            MimeType = "text/csv",
            Buffer = Encoding.UTF8.GetBytes(csv.ToString()),
        });
        await Assertions.Expect(office.Page.Locator("#file-summary")).ToContainTextAsync("6 tasks");
        await office.Page.GetByLabel("Instructions template").FillAsync("Research {company}: founding year, HQ");
        await office.Page.GetByRole(AriaRole.Button, new() { Name = "Submit" }).ClickAsync();

        var card = office.Page.Locator("#batches .batch").Filter(new() { HasText = "six companies" });
        await Assertions.Expect(card.Locator(".batch-status")).ToHaveTextAsync("running", new() { Timeout = 30_000 });
        await office.Screenshot("user-desks-busy-and-a-batch-running");
        await Assertions.Expect(card).ToHaveAttributeAsync("data-status", "completed", new() { Timeout = (float)BatchDeadline.TotalMilliseconds });

        var bar = card.Locator("progress");
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(await bar.GetAttributeAsync("aria-valuetext"), Does.StartWith("100%"));
            Assert.That(await bar.EvaluateAsync<double>("p => p.value / p.max"), Is.EqualTo(1.0));
            Assert.That(await card.GetAttributeAsync("data-done"), Is.EqualTo("6"));
            Assert.That(office.Navigations, Is.EqualTo(navigations), "the page was not reloaded");
            Assert.That(await office.Page.Locator("#progress-announcer").TextContentAsync(), Does.Contain("completed"), "the end is announced");
        });
    }

    [Test]
    public async Task Should_hint_how_much_sooner_the_next_tier_would_finish()
    {
        var (_, key) = await Api.CreateUser(Cluster, "office-hint", "free");
        using var user = Cluster.Client(key);
        await using var office = await Office.Open(Cluster.Intake.BaseAddress);
        await office.SignIn(key);

        // One desk, four tasks: once the first has finished there is an ETA, and three desks would shorten it.
        await Api.Submit(user, "one at a time", tasks: 4, durationMs: 2000);

        // One expectation, retried as the stream updates the hint: it names the next tier, its desks and both ETAs.
        await Assertions.Expect(office.Page.Locator("#q-upgrade")).ToHaveTextAsync(
            new System.Text.RegularExpressions.Regex(@"^With starter: 3 desks, about \d+ s instead of about \d+ s\.$"), new() { Timeout = 30_000 });
    }

    [Test]
    public async Task Should_cancel_a_batch_from_its_card()
    {
        var (_, key) = await Api.CreateUser(Cluster, "office-cancel", "starter");
        using var user = Cluster.Client(key);
        await using var office = await Office.Open(Cluster.Intake.BaseAddress);
        await office.SignIn(key);
        var batchId = await Api.Submit(user, "slow ones", tasks: 12, durationMs: 20_000);

        var card = office.Batch(batchId);
        await Assertions.Expect(card.Locator(".batch-status")).ToHaveTextAsync("running", new() { Timeout = 30_000 });
        await card.GetByRole(AriaRole.Button, new() { Name = "Cancel batch slow ones" }).ClickAsync();

        await Assertions.Expect(card).ToHaveAttributeAsync("data-status", "cancelled", new() { Timeout = (float)BatchDeadline.TotalMilliseconds });
        var batch = await PlatformCluster.GetJson(user, $"/v1/batches/{batchId}");
        await Assert.MultipleAsync(async () =>
        {
            Assert.That(batch["status"]!.GetValue<string>(), Is.EqualTo("cancelled"));
            Assert.That(await card.Locator(".batch-cancel").IsHiddenAsync(), Is.True, "a finished batch offers no cancel");
        });
    }

    [Test]
    public async Task Should_download_results_that_match_the_api_s_task_rows()
    {
        var (_, key) = await Api.CreateUser(Cluster, "office-results", "starter");
        using var user = Cluster.Client(key);
        await using var office = await Office.Open(Cluster.Intake.BaseAddress);
        await office.SignIn(key);
        var batchId = await Api.Submit(user, "results", tasks: 5, durationMs: 200);
        var card = office.Batch(batchId);
        await Assertions.Expect(card).ToHaveAttributeAsync("data-status", "completed", new() { Timeout = (float)BatchDeadline.TotalMilliseconds });
        var rows = (await Api.TaskRows(user, batchId)).ToDictionary(t => t["key"]!.GetValue<string>());

        var csv = await Download(office, card.GetByRole(AriaRole.Link, new() { Name = "Download the results of results as CSV" }));
        var jsonl = await Download(office, card.GetByRole(AriaRole.Link, new() { Name = "Download the results of results as JSONL" }));

        var csvLines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToList();
        var jsonLines = jsonl.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(csvLines[0], Does.StartWith("key,status,error"));
            Assert.That(csvLines.Skip(1).Select(l => l.Split(',')[0]), Is.EqualTo(rows.Keys.Order(StringComparer.Ordinal)), "one CSV row per task, in key order");
            Assert.That(csvLines.Skip(1).Select(l => l.Split(',')[1]), Is.All.EqualTo("completed"));
            Assert.That(jsonLines.Select(j => j["key"]!.GetValue<string>()), Is.EqualTo(rows.Keys.Order(StringComparer.Ordinal)));
            foreach (var line in jsonLines)
            {
                var row = rows[line["key"]!.GetValue<string>()];
                Assert.That(line["status"]!.GetValue<string>(), Is.EqualTo(row["status"]!.GetValue<string>()));
                Assert.That(JsonNode.DeepEquals(line["result"], row["result"]), Is.True, $"{line["key"]}: the result is the task row's");
            }
        });
    }

    static async Task<string> Download(Office office, ILocator link)
    {
        var download = await office.Page.RunAndWaitForDownloadAsync(() => link.ClickAsync());
        var path = await download.PathAsync();
        return await File.ReadAllTextAsync(path);
    }

    [Test]
    public async Task Should_show_on_the_desks_exactly_the_tasks_the_api_holds()
    {
        var (_, key) = await Api.CreateUser(Cluster, "office-agree", "starter");
        using var user = Cluster.Client(key);
        await using var office = await Office.Open(Cluster.Intake.BaseAddress);
        await office.SignIn(key);
        await Api.Submit(user, "steady", tasks: 9, durationMs: 4000);
        await Assertions.Expect(office.Page.Locator("#desks .desk[data-state='busy']")).ToHaveCountAsync(3, new() { Timeout = 30_000 });
        await Assertions.Expect(office.Page.Locator("#q-waiting")).ToHaveTextAsync("The next task waits for a free desk: all 3 of yours are busy.");

        var disagreement = await DesksDisagree(office, user, TimeSpan.FromSeconds(20));

        Assert.That(disagreement, Is.Null);
    }

    [Test]
    public async Task Should_catch_a_desk_that_shows_a_task_the_api_does_not()
    {
        var (_, key) = await Api.CreateUser(Cluster, "office-phantom", "starter");
        using var user = Cluster.Client(key);
        await using var office = await Office.Open(Cluster.Intake.BaseAddress);
        await office.SignIn(key);
        await Assertions.Expect(office.Desks).ToHaveCountAsync(3);
        Assert.That(await DesksDisagree(office, user, TimeSpan.FromSeconds(10)), Is.Null, "idle desks agree with an idle queue");

        // A desk made to show a task that the API does not hold: the comparison must not let it pass.
        await office.Page.EvaluateAsync("() => { const d = document.querySelector('#desks .desk'); d.dataset.taskId = crypto.randomUUID(); d.dataset.state = 'busy'; }");
        var disagreement = await DesksDisagree(office, user, TimeSpan.FromSeconds(3));

        Assert.That(disagreement, Does.Contain("desks show"));
    }

    /// <summary>
    /// Compares the desks in the page with <c>GET /v1/queue</c> read at the same moment, again and again until they agree
    /// or the deadline passes (a task may start or end between the two reads). Null when they agreed, else what differed last.
    /// </summary>
    static async Task<string?> DesksDisagree(Office office, HttpClient user, TimeSpan deadline)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        string? last;
        do
        {
            var shown = await office.ShownDesks();
            var held = await Api.HeldDesks(user);
            var shownAfter = await office.ShownDesks();
            if (Api.Describe(shown) == Api.Describe(held) || Api.Describe(shownAfter) == Api.Describe(held))
                return null;
            last = $"desks show {Api.Describe(shownAfter)}; the API holds {Api.Describe(held)}";
            await Task.Delay(100);
        } while (watch.Elapsed < deadline);

        return last;
    }

    [Test]
    public async Task Should_sign_in_by_keyboard_with_a_visible_focus()
    {
        var (_, key) = await Api.CreateUser(Cluster, "office-keys", "starter");
        await using var office = await Office.Open(Cluster.Intake.BaseAddress);

        // The form takes the focus; the button is one Tab away and shows its focus; back to the field, type, Enter.
        await Assertions.Expect(office.Page.Locator("#api-key")).ToBeFocusedAsync();
        await office.Page.Keyboard.PressAsync("Tab");
        var onButton = await office.Page.EvaluateAsync<System.Text.Json.JsonElement>(
            "() => ({ text: document.activeElement.textContent, outline: getComputedStyle(document.activeElement).outlineStyle })");
        await office.Page.Keyboard.PressAsync("Shift+Tab");
        await office.Page.Keyboard.TypeAsync(key);
        await office.Page.Keyboard.PressAsync("Enter");

        await Assertions.Expect(office.Page.Locator("#who-text")).ToContainTextAsync("Signed in as");
        Assert.Multiple(() =>
        {
            Assert.That(onButton.GetProperty("text").GetString(), Is.EqualTo("Sign in"));
            Assert.That(onButton.GetProperty("outline").GetString(), Is.Not.EqualTo("none"), "the focused button shows it");
        });
    }

    [TestCase(1280, 900)]
    [TestCase(390, 844)]
    public async Task Should_fit_the_user_s_view_in_the_window_width(int width, int height)
    {
        var (_, key) = await Api.CreateUser(Cluster, "office-width", "pro");
        using var user = Cluster.Client(key);
        await using var office = await Office.Open(Cluster.Intake.BaseAddress, width, height);
        await office.SignIn(key);
        var batchId = await Api.Submit(user, "twenty companies", tasks: 20, durationMs: 3000);
        await Assertions.Expect(office.Batch(batchId).Locator(".batch-status")).ToHaveTextAsync("running", new() { Timeout = 30_000 });
        await Assertions.Expect(office.Page.Locator("#desks .desk[data-state='busy']")).Not.ToHaveCountAsync(0);

        await office.Screenshot("user-desks-queue-and-batches");
        var overflow = await office.Page.EvaluateAsync<int>("() => document.documentElement.scrollWidth - window.innerWidth");
        var foreign = office.Requests.Where(u => !u.StartsWith(office.BaseAddress.GetLeftPart(UriPartial.Authority), StringComparison.Ordinal)).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(overflow, Is.LessThanOrEqualTo(0), "no sideways scrolling");
            Assert.That(foreign, Is.Empty, "the page loads nothing from anywhere but the intake");
        });
    }
}
