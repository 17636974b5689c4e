using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Platform.Intake.OpenApi;

/// <summary>
/// Schemas as the API writes JSON. The web serializer defaults also read numbers from strings, which the generator
/// describes as <c>integer | string</c> with a pattern; the API writes numbers and documents numbers. And a request
/// property marked <see cref="RequiredAttribute"/> (enforced by the request validators) is listed as required.
/// </summary>
internal sealed class WireTypes : IOpenApiSchemaTransformer
{
    public Task TransformAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        if (schema.Type is { } type && (type & (JsonSchemaType.Integer | JsonSchemaType.Number)) != 0 && type.HasFlag(JsonSchemaType.String))
        {
            schema.Type = type & ~JsonSchemaType.String;
            schema.Pattern = null;
        }

        if (context.JsonPropertyInfo is null && context.JsonTypeInfo.Properties is { Count: > 0 } properties)
        {
            foreach (var property in properties.Where(p => p.AttributeProvider?.IsDefined(typeof(RequiredAttribute), inherit: true) == true))
            {
                schema.Required ??= new HashSet<string>();
                schema.Required.Add(property.Name);
            }
        }
        return Task.CompletedTask;
    }
}
