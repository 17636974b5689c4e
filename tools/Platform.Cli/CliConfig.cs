using System.Text.Json;
using System.Text.Json.Serialization;

namespace Platform.Cli;

/// <summary>
/// Where the API is and which key to use: <c>PLATFORM_API</c> / <c>PLATFORM_API_KEY</c> win over the file that
/// <c>platform login</c> writes (<c>$XDG_CONFIG_HOME/platform/config.json</c>, by default <c>~/.config/platform/config.json</c>, mode 0600).
/// </summary>
public sealed record CliConfig(string? Api, string? ApiKey)
{
    public const string ApiVariable = "PLATFORM_API";
    public const string ApiKeyVariable = "PLATFORM_API_KEY";

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    public static string FilePath
    {
        get
        {
            // .NET reads XDG_CONFIG_HOME (else ~/.config) on Unix and %APPDATA% on Windows.
            var folder = Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData, Environment.SpecialFolderOption.DoNotVerify);
            if (string.IsNullOrEmpty(folder))
                folder = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
            return Path.Combine(folder, "platform", "config.json");
        }
    }

    public static CliConfig ReadFile()
    {
        var path = FilePath;
        if (!File.Exists(path))
            return new CliConfig(null, null);
        try
        {
            return JsonSerializer.Deserialize<Stored>(File.ReadAllText(path), Json) is { } stored
                ? new CliConfig(stored.Api, stored.ApiKey)
                : new CliConfig(null, null);
        }
        catch (JsonException ex)
        {
            throw new CliException(ExitCodes.Usage, $"{path} is not valid JSON ({ex.Message}); run `platform login` again", inner: ex);
        }
    }

    /// <summary>The file, overridden field by field by the environment.</summary>
    public static CliConfig Resolve()
    {
        var file = ReadFile();
        return new CliConfig(NonEmpty(Environment.GetEnvironmentVariable(ApiVariable)) ?? file.Api,
            NonEmpty(Environment.GetEnvironmentVariable(ApiKeyVariable)) ?? file.ApiKey);
    }

    /// <summary>Writes the file readable by its owner only, from the first byte: the key is a password.</summary>
    public void Save()
    {
        var path = FilePath;
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var stream = new FileStream(temporary, options))
            JsonSerializer.Serialize(stream, new Stored(Api, ApiKey), Json);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temporary, path, overwrite: true);
    }

    static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    sealed record Stored([property: JsonPropertyName("api")] string? Api, [property: JsonPropertyName("apiKey")] string? ApiKey);
}
