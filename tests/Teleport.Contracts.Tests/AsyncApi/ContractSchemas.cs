using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using MassTransit.Serialization;

namespace Teleport.Contracts.Tests.AsyncApi;

/// <summary>
/// The JSON Schema a contract record must have in contracts/asyncapi.yaml, built from the C# type by reflection: the
/// property names MassTransit's System.Text.Json settings write, their JSON types, and as required the constructor
/// parameters without a default (those a sender must always give).
/// </summary>
public static class ContractSchemas
{
    private static readonly JsonNamingPolicy Naming = SystemTextJsonMessageSerializer.Options.PropertyNamingPolicy ?? throw new InvalidOperationException("MassTransit's JSON options name no policy");

    /// <summary>A record's property name on the wire.</summary>
    public static string JsonName(string property) => Naming.ConvertName(property);

    public static JsonObject For(Type record)
    {
        var nullability = new NullabilityInfoContext();
        var properties = new JsonObject();
        var required = new JsonArray();
        foreach (var parameter in ContractTypes.PrimaryConstructor(record).GetParameters())
        {
            string name = JsonName(parameter.Name!);
            bool nullable = Nullable.GetUnderlyingType(parameter.ParameterType) is not null ||
                            (!parameter.ParameterType.IsValueType && nullability.Create(parameter).WriteState == NullabilityState.Nullable);
            properties[name] = Property(Nullable.GetUnderlyingType(parameter.ParameterType) ?? parameter.ParameterType, nullable);
            if (!parameter.HasDefaultValue)
                required.Add(name);
        }

        var schema = new JsonObject { ["type"] = "object", ["properties"] = properties };
        if (required.Count > 0)
            schema["required"] = required;
        return schema;
    }

    private static JsonObject Property(Type type, bool nullable)
    {
        var schema = Plain(type);
        if (!nullable)
            return schema;
        if (schema["type"] is JsonValue plain)
        {
            schema["type"] = new JsonArray(plain.GetValue<string>(), "null");
            return schema;
        }

        return new JsonObject { ["oneOf"] = new JsonArray(schema, new JsonObject { ["type"] = "null" }) };
    }

    private static JsonObject Plain(Type type)
    {
        if (type == typeof(string))
            return Typed("string");
        if (type == typeof(bool))
            return Typed("boolean");
        if (type == typeof(Guid))
            return Typed("string", "uuid");
        if (type == typeof(DateTimeOffset) || type == typeof(DateTime))
            return Typed("string", "date-time");
        if (type == typeof(int))
            return Typed("integer", "int32");
        if (type == typeof(long))
            return Typed("integer", "int64");
        if (type == typeof(double))
            return Typed("number", "double");
        if (type.Namespace == "Teleport.Contracts" && ContractTypes.IsRecord(type))
            return new JsonObject { ["$ref"] = $"#/components/schemas/{type.Name}" };
        if (type.IsGenericType && type.GetGenericTypeDefinition() is var list &&
            (list == typeof(IReadOnlyList<>) || list == typeof(IReadOnlyCollection<>) || list == typeof(IEnumerable<>) || list == typeof(List<>)))
            return new JsonObject { ["type"] = "array", ["items"] = Plain(type.GetGenericArguments()[0]) };
        throw new NotSupportedException($"contracts/asyncapi.yaml has no JSON Schema mapping for {type}: add one here and to the document");
    }

    private static JsonObject Typed(string type, string? format = null)
    {
        var schema = new JsonObject { ["type"] = type };
        if (format is not null)
            schema["format"] = format;
        return schema;
    }
}
