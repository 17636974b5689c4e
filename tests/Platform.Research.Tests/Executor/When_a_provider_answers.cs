using Platform.Worker.Research;

namespace Platform.Research.Tests.Executor;

/// <summary>How the executor reads what a provider sends back: the answer's JSON however it is wrapped, and reset hints.</summary>
public sealed class When_a_provider_answers
{
    [TestCase("""{"answer": {"founded": 1947}, "summary": "Acme.", "sources": ["https://a.example"], "confidence": 0.8}""")]
    [TestCase("Here you go:\n\n```json\n{\"answer\": {\"founded\": 1947}, \"summary\": \"Acme.\", \"sources\": [\"https://a.example\"], \"confidence\": 0.8}\n```\nAnything else?")]
    [TestCase("Sure. {\"answer\": {\"founded\": 1947}, \"summary\": \"Acme.\", \"sources\": [\"https://a.example\"], \"confidence\": 0.8} Hope that helps.")]
    public void Should_read_the_research_json_however_it_is_wrapped(string text)
    {
        var result = ResearchAnswer.Parse(text, out var problem);
        Assert.Multiple(() =>
        {
            Assert.That(problem, Is.Null);
            Assert.That(result?["answer"]?["founded"]?.GetValue<int>(), Is.EqualTo(1947));
            Assert.That(result?["summary"]?.GetValue<string>(), Is.EqualTo("Acme."));
            Assert.That(result?["sources"]?.AsArray().Select(s => s!.GetValue<string>()), Is.EqualTo(new[] { "https://a.example" }));
            Assert.That(result?["confidence"]?.GetValue<double>(), Is.EqualTo(0.8));
        });
    }

    [TestCase("I could not find anything about Acme.", "no JSON object")]
    [TestCase("""{"summary": "Acme."}""", "no 'answer' object")]
    [TestCase("""{"answer": {}, "sources": []}""", "no 'summary' text")]
    [TestCase("", "empty")]
    public void Should_name_what_is_missing_from_an_answer_that_is_not_the_research_json(string text, string expected)
    {
        Assert.Multiple(() =>
        {
            Assert.That(ResearchAnswer.Parse(text, out var problem), Is.Null);
            Assert.That(problem, Does.Contain(expected));
        });
    }

    [TestCase("20ms", 20)]
    [TestCase("1s", 1000)]
    [TestCase("8.64s", 8640)]
    [TestCase("6m0s", 360_000)]
    [TestCase("1h2m3s", 3_723_000)]
    public void Should_read_openai_s_reset_durations(string text, int milliseconds) =>
        Assert.That(ProviderFailures.ParseReset(text), Is.EqualTo(TimeSpan.FromMilliseconds(milliseconds)));

    [TestCase("soon")]
    [TestCase("")]
    public void Should_not_guess_a_reset_it_cannot_read(string text) =>
        Assert.That(ProviderFailures.ParseReset(text), Is.Null);

    [Test]
    public void Should_never_print_the_key_of_a_credential()
    {
        var credential = new ProviderCredential(null, "sk-secret-0123456789", new Uri("http://127.0.0.1:1/v1"), "gpt-4o-mini");
        Assert.Multiple(() =>
        {
            Assert.That(credential.ToString(), Does.Not.Contain("sk-secret"));
            Assert.That(ProviderFailures.Scrub("Incorrect API key provided: sk-secret-0123456789.", credential), Does.Not.Contain("sk-secret"));
        });
    }
}
