using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Platform.Testing;
using static Platform.Intake.Tests.Endpoints.When_a_queued_task_says_what_it_waits_for;

namespace Platform.Intake.Tests.Endpoints;

/// <summary>
/// Two workers of 4 and three users holding 9 tasks in flight among them (today the dispatcher may overfill the fleet):
/// an enterprise user (6 running, 4 queued), a pro (2 and 3) and a free user (1 and 1). Fair shares by weight 50 : 10 : 1,
/// each capped at min(slots, running + queued) = 10, 5 and 1: 400/61, 80/61 and 8/61 of the 8 units.
/// </summary>
[TestFixture]
public sealed class When_the_fleet_is_full
{
    IntakeApplication _app = null!;
    HttpClient _enterprise = null!;
    HttpClient _pro = null!;
    HttpClient _free = null!;
    Guid _enterpriseBatch;
    Guid _proBatch;
    Guid _freeBatch;
    string _enterpriseId = null!;
    string _proId = null!;
    string _freeId = null!;

    [OneTimeSetUp]
    public async Task FillTheFleet()
    {
        // A host of its own: these workers and tasks in flight are the whole fleet it sees.
        var database = await LocalInfrastructure.CreateDatabase("intake_fleet_full");
        var rabbitMq = await LocalInfrastructure.CreateVirtualHost("intake_fleet_full");
        _app = new IntakeApplication(database, rabbitMq, new Dictionary<string, string>
        {
            // The worker rows are written once; a heartbeat-aged timeout would drop them from the fleet mid-run.
            ["Platform:Fleet:WorkerTimeout"] = "01:00:00",
        });
        _app.UseKestrel(0);
        _app.StartServer();

        await FleetRows.AddWorker(database, "full-a:1", 4);
        await FleetRows.AddWorker(database, "full-b:1", 4);
        (_enterpriseId, _enterprise) = await _app.CreateUser("enterprise", "enterprise");
        (_proId, _pro) = await _app.CreateUser("pro", "pro");
        (_freeId, _free) = await _app.CreateUser("free", "free");
        _enterpriseBatch = await IntakeApplication.SubmitBatch(_enterprise, tasks: 10);
        _proBatch = await IntakeApplication.SubmitBatch(_pro, tasks: 5);
        _freeBatch = await IntakeApplication.SubmitBatch(_free, tasks: 2);
        await FleetRows.Run(database, _enterpriseBatch, 6, "full-a:1");
        await FleetRows.Run(database, _proBatch, 2, "full-b:1");
        await FleetRows.Run(database, _freeBatch, 1, "full-b:1");
    }

    [OneTimeTearDown]
    public async Task StopIntake()
    {
        _enterprise?.Dispose();
        _pro?.Dispose();
        _free?.Dispose();
        if (_app is not null)
            await _app.DisposeAsync();
    }

    [Test]
    public async Task Should_say_the_platform_is_at_capacity_naming_what_the_user_holds_and_its_fair_share()
    {
        var enterprise = await Tasks(_enterprise, _enterpriseBatch);
        var pro = await Tasks(_pro, _proBatch);

        Assert.Multiple(() =>
        {
            Assert.That(Reason(enterprise, "task-6"), Is.EqualTo("fleet"));
            Assert.That(Detail(enterprise, "task-6"), Is.EqualTo("the platform is at capacity: you hold 6 of its 8 workers, your fair share is 6.6"));
            Assert.That(Detail(enterprise, "task-9"), Is.EqualTo(Detail(enterprise, "task-6")), "every queued task of the batch says the same");
            Assert.That(Reason(pro, "task-2"), Is.EqualTo("fleet"));
            Assert.That(Detail(pro, "task-2"), Is.EqualTo("the platform is at capacity: you hold 2 of its 8 workers, your fair share is 1.3"));
        });
    }

    [Test]
    public async Task Should_name_the_user_s_own_slots_before_the_fleet()
    {
        var free = await Tasks(_free, _freeBatch);

        Assert.Multiple(() =>
        {
            Assert.That(Reason(free, "task-1"), Is.EqualTo("user_slots"));
            Assert.That(Detail(free, "task-1"), Does.StartWith("your only slot is busy"));
        });
    }

    [Test]
    public async Task Should_show_each_user_s_fair_share_in_the_fleet_view()
    {
        using var admin = _app.Admin();
        var fleet = (await admin.GetFromJsonAsync<JsonObject>("/v1/admin/fleet"))!;
        var shares = fleet["shares"]!.AsArray().ToDictionary(s => s!["userId"]!.GetValue<string>(), s => s!);

        Assert.Multiple(() =>
        {
            Assert.That(fleet.ContainsKey("users"), Is.False, "the list is named shares, as DESIGN.md names it");
            Assert.That(fleet["capacity"]!.GetValue<int>(), Is.EqualTo(8));
            Assert.That(fleet["running"]!.GetValue<int>(), Is.EqualTo(9));
            Assert.That(shares.Keys, Is.EqualTo(new[] { _enterpriseId, _proId, _freeId }), "most running first");
            Assert.That(shares[_enterpriseId]["fairShare"]!.GetValue<double>(), Is.EqualTo(400.0 / 61).Within(0.001));
            Assert.That(shares[_proId]["fairShare"]!.GetValue<double>(), Is.EqualTo(80.0 / 61).Within(0.001));
            Assert.That(shares[_freeId]["fairShare"]!.GetValue<double>(), Is.EqualTo(8.0 / 61).Within(0.001));
            Assert.That(shares[_proId]["queued"]!.GetValue<int>(), Is.EqualTo(3));
        });
    }

    [Test]
    public async Task Should_weigh_every_user_with_work_whatever_the_limit_lists()
    {
        using var admin = _app.Admin();
        var fleet = (await admin.GetFromJsonAsync<JsonObject>("/v1/admin/fleet?limit=1"))!;
        var shares = fleet["shares"]!.AsArray();

        Assert.Multiple(() =>
        {
            Assert.That(shares.Select(s => s!["userId"]!.GetValue<string>()), Is.EqualTo(new[] { _enterpriseId }));
            // Weighed alone it would get all 8 units it can use.
            Assert.That(shares[0]!["fairShare"]!.GetValue<double>(), Is.EqualTo(400.0 / 61).Within(0.001));
        });
    }
}
