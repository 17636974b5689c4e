using System.IO.Compression;
using System.Xml.Linq;
using Platform.Testing;

namespace Platform.Contracts.Tests;

[TestFixture]
public sealed class When_the_contracts_are_packed
{
    static readonly string Project = Path.Combine(LocalInfrastructure.RepositoryRoot, "contracts", "Platform.Contracts", "Platform.Contracts.csproj");

    string _folder = null!;
    string _package = null!;
    string[] _entries = null!;

    [OneTimeSetUp]
    public async Task Pack()
    {
        _folder = Directory.CreateTempSubdirectory("platform-contracts-pack-").FullName;
        // Packs the build this test project already made (it references the contracts): seconds, and nothing is
        // written into the repository (the nuspec goes to the temporary folder too).
        var run = await DotnetRun.Start(
            ["pack", Project, "--no-build", "--nologo", "-c", ServiceProcess.BuildConfiguration, "-o", _folder,
             $"-p:NuspecOutputPath={_folder}{Path.DirectorySeparatorChar}"],
            TimeSpan.FromMinutes(2));
        Assert.That(run.ExitCode, Is.Zero, run.Output);

        _package = Directory.GetFiles(_folder, "*.nupkg").Single();
        using var zip = ZipFile.OpenRead(_package);
        _entries = zip.Entries.Select(e => e.FullName).ToArray();
    }

    [OneTimeTearDown]
    public void Clean() => Directory.Delete(_folder, recursive: true);

    [Test]
    public void Should_contain_the_assembly_and_its_xml_documentation()
    {
        Assert.That(_entries, Is.SupersetOf(new[] { "lib/net10.0/Platform.Contracts.dll", "lib/net10.0/Platform.Contracts.xml", "README.md" }));
    }

    [Test]
    public void Should_be_named_and_versioned_as_Platform_Contracts()
    {
        var nuspec = Nuspec();
        XNamespace ns = nuspec.Root!.Name.Namespace;
        var metadata = nuspec.Root.Element(ns + "metadata")!;
        var version = (string)metadata.Element(ns + "version")!;

        Assert.Multiple(() =>
        {
            Assert.That((string)metadata.Element(ns + "id")!, Is.EqualTo("Platform.Contracts"));
            Assert.That(Version.TryParse(version, out _), Is.True, $"version '{version}' is major.minor.patch");
            Assert.That(Path.GetFileName(_package), Is.EqualTo($"Platform.Contracts.{version}.nupkg"));
            Assert.That((string)metadata.Element(ns + "readme")!, Is.EqualTo("README.md"));
            Assert.That((string?)metadata.Element(ns + "description"), Is.Not.Empty);
            // An outside team gets the records and nothing else: no MassTransit or other package comes with them.
            Assert.That(metadata.Descendants(ns + "dependency"), Is.Empty);
        });
    }

    [Test]
    public void Should_document_every_message_and_its_fields()
    {
        var documented = DocumentedMembers();
        var expected = typeof(SubmitBatch).Assembly.GetExportedTypes()
            .SelectMany(t => t.GetProperties().Where(p => p.DeclaringType == t).Select(p => $"P:{t.FullName}.{p.Name}").Prepend($"T:{t.FullName}"))
            .ToList();

        Assert.That(expected, Is.SubsetOf(documented));
    }

    XDocument Nuspec()
    {
        using var zip = ZipFile.OpenRead(_package);
        using var stream = zip.GetEntry("Platform.Contracts.nuspec")!.Open();
        return XDocument.Load(stream);
    }

    // A positional record's property is documented by its <param> tag: the compiler writes it as the property's summary.
    HashSet<string> DocumentedMembers()
    {
        using var zip = ZipFile.OpenRead(_package);
        using var stream = zip.GetEntry("lib/net10.0/Platform.Contracts.xml")!.Open();
        return XDocument.Load(stream).Descendants("member")
            .Where(m => m.Elements().Any(e => e.Value.Trim().Length > 0))
            .Select(m => (string)m.Attribute("name")!)
            .ToHashSet();
    }
}
