using System.Net;
using System.Text.RegularExpressions;

namespace Platform.Intake.Tests.Endpoints;

/// <summary>
/// <c>/docs</c> must work on a machine with no way out: its scripts come from the intake, and nothing in its
/// configuration sends the browser elsewhere (Scalar's CDN fonts, telemetry, agent).
/// </summary>
[TestFixture]
public sealed partial class When_the_reference_page_is_served
{
    static IntakeApplication App => AssemblySetup.Application;

    string _html = null!;
    HttpStatusCode _status;

    [OneTimeSetUp]
    public async Task FetchThePage()
    {
        using var anonymous = App.Client(apiKey: null);
        // As DESIGN.md spells it: the page redirects to "/docs/" so that its relative script addresses resolve under it.
        using var response = await anonymous.GetAsync("/docs");
        _status = response.StatusCode;
        _html = await response.Content.ReadAsStringAsync();
    }

    [Test]
    public void Should_serve_the_page_to_anyone()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(_html, Does.Contain("<div id=\"app\">"));
        });
    }

    [Test]
    public async Task Should_serve_every_script_itself()
    {
        var sources = ScriptSource().Matches(_html).Select(m => m.Groups[1].Value).ToList();
        Assert.That(sources, Is.Not.Empty);

        using var anonymous = App.Client(apiKey: null);
        await Assert.MultipleAsync(async () =>
        {
            foreach (var source in sources)
            {
                Assert.That(source, Does.Not.Contain("//"), $"{source} would load from elsewhere");
                using var script = await anonymous.GetAsync(new Uri(new Uri(anonymous.BaseAddress!, "/docs/"), source));
                Assert.That(script.StatusCode, Is.EqualTo(HttpStatusCode.OK), source);
                Assert.That(script.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/javascript"), source);
            }
        });
    }

    [Test]
    public void Should_name_no_outside_address()
    {
        // The page's HTML and embedded configuration: absolute URLs there are what the browser would fetch or send to.
        var outside = AbsoluteUrl().Matches(_html).Select(m => m.Value).Where(u => !u.Contains("platform.local", StringComparison.Ordinal)).ToList();

        Assert.That(outside, Is.Empty);
    }

    [Test]
    public void Should_turn_off_the_fonts_the_telemetry_and_the_agent()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_html, Does.Contain("\"withDefaultFonts\":false"));
            Assert.That(_html, Does.Contain("\"telemetry\":false"));
            Assert.That(_html, Does.Match("\"agent\":\\{[^}]*\"disabled\":true"));
        });
    }

    [GeneratedRegex("<script[^>]*\\ssrc=\"([^\"]+)\"")]
    private static partial Regex ScriptSource();

    [GeneratedRegex("(https?:)?//[A-Za-z0-9.-]+\\.[A-Za-z]{2,}[^\"'\\s]*")]
    private static partial Regex AbsoluteUrl();
}
