using System.ComponentModel.DataAnnotations;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Platform.Data.Tiers;

namespace Platform.Intake.OpenApi;

/// <summary>Marks a string property whose values are the configured tier names (they come from configuration, not code).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Parameter)]
public sealed class TierNameAttribute : Attribute;

/// <summary>
/// Statuses and tiers are strings on the wire (snake_case, as stored), not C# enums: give their schemas the <c>enum</c>
/// of allowed values, from <see cref="AllowedValuesAttribute"/> or, for tiers, from the tier configuration.
/// </summary>
internal sealed class EnumLikeStrings(IOptionsMonitor<TierOptions> tiers) : IOpenApiSchemaTransformer
{
    public Task TransformAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        var attributes = context.JsonPropertyInfo?.AttributeProvider;
        if (attributes is null)
            return Task.CompletedTask;

        IEnumerable<string>? values =
            attributes.GetCustomAttributes(typeof(AllowedValuesAttribute), inherit: true) is [AllowedValuesAttribute allowed, ..]
                ? allowed.Values.Select(v => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture)!)
            : attributes.IsDefined(typeof(TierNameAttribute), inherit: true)
                ? tiers.CurrentValue.Tiers.Keys.Select(k => k.ToLowerInvariant())
            : null;
        if (values is not null)
            schema.Enum = values.Select(v => (JsonNode)JsonValue.Create(v)).ToList();
        return Task.CompletedTask;
    }
}
