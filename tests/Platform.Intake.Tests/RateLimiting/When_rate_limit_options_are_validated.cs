using System.ComponentModel.DataAnnotations;
using Platform.Intake.RateLimiting;

namespace Platform.Intake.Tests.RateLimiting;

/// <summary><c>Platform:RateLimit</c> is validated on start: a limit that could never let a request through, or a window that never ends, stops the host.</summary>
[TestFixture]
public sealed class When_rate_limit_options_are_validated
{
    static List<string> Errors(RateLimitOptions options)
    {
        var results = new List<ValidationResult>();
        Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
        return results.Select(r => r.ErrorMessage ?? "").ToList();
    }

    [Test]
    public void Should_accept_the_defaults_of_1000_requests_per_10_seconds()
    {
        var options = new RateLimitOptions();

        Assert.Multiple(() =>
        {
            Assert.That(Errors(options), Is.Empty);
            Assert.That(options.Describe(), Is.EqualTo("at most 1000 requests per 10 s per caller"));
        });
    }

    [TestCase(0)]
    [TestCase(-1)]
    public void Should_refuse_a_permit_limit_below_1(int permitLimit)
    {
        Assert.That(Errors(new RateLimitOptions { PermitLimit = permitLimit }), Has.Some.Contains("PermitLimit"));
    }

    [TestCase("00:00:00")]
    [TestCase("-00:00:01")]
    [TestCase("2.00:00:00")]
    public void Should_refuse_a_window_outside_1_ms_to_1_day(string window)
    {
        Assert.That(Errors(new RateLimitOptions { Window = TimeSpan.Parse(window, System.Globalization.CultureInfo.InvariantCulture) }),
            Has.Some.Contains("Platform:RateLimit:Window"));
    }
}
