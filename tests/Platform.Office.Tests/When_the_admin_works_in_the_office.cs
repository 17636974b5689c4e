using System.Net.Http.Json;
using Microsoft.Playwright;
using Platform.Testing;

namespace Platform.Office.Tests;

/// <summary>The admin in the office page: users and their tiers, the fleet.</summary>
[TestFixture]
public sealed class When_the_admin_works_in_the_office
{
    static PlatformCluster Cluster => AssemblySetup.Cluster;

    [Test]
    public async Task Should_change_a_user_s_tier_from_the_users_table()
    {
        var (userId, _) = await Api.CreateUser(Cluster, "office-upgraded", "free");
        await using var office = await Office.Open(Cluster.Intake.BaseAddress);
        await office.SignIn(PlatformCluster.AdminKey);

        var row = office.Page.Locator($"#users-table tr[data-user-id='{userId}']");
        await row.GetByLabel($"Tier of {userId}", new() { Exact = true }).SelectOptionAsync("pro");
        await row.GetByRole(AriaRole.Button, new() { Name = $"Change the tier of {userId}" }).ClickAsync();

        await Assertions.Expect(office.Page.Locator($"#users-table tr[data-user-id='{userId}'] td").Nth(1)).ToHaveTextAsync("10");
        using var admin = Cluster.Client();
        var user = await admin.GetFromJsonAsync<System.Text.Json.Nodes.JsonObject>($"/v1/users/{userId}");
        Assert.That(user?["tier"]?.GetValue<string>(), Is.EqualTo("pro"));
    }

    [TestCase(1280, 900)]
    [TestCase(390, 844)]
    public async Task Should_show_the_fleet_within_the_window_width(int width, int height)
    {
        await using var office = await Office.Open(Cluster.Intake.BaseAddress, width, height);
        await office.SignIn(PlatformCluster.AdminKey);

        await Assertions.Expect(office.Page.Locator("#fleet-summary")).ToContainTextAsync("1 live worker.");
        await Assertions.Expect(office.Page.Locator("#fleet-workers tbody tr")).ToHaveCountAsync(1);
        await office.Screenshot("admin-users-and-fleet");
        var overflow = await office.Page.EvaluateAsync<int>("() => document.documentElement.scrollWidth - window.innerWidth");

        Assert.That(overflow, Is.LessThanOrEqualTo(0), "no sideways scrolling (wide tables scroll inside their panel)");
    }
}
