using System.Globalization;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Teleport.Contracts.Tests.AsyncApi;

/// <summary>contracts/asyncapi.yaml (copied beside the tests), read as a JSON tree so that schemas compare as JSON.</summary>
public static class AsyncApiDocument
{
    public static JsonObject Load() => Read(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "asyncapi.yaml")));

    public static JsonObject Read(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return Convert(stream.Documents[0].RootNode) as JsonObject ?? throw new InvalidDataException("asyncapi.yaml is not a mapping");
    }

    /// <summary>The node at a path of keys, or null.</summary>
    public static JsonNode? At(this JsonNode? node, params string[] keys)
    {
        foreach (string key in keys)
            node = node is JsonObject o && o.TryGetPropertyValue(key, out var child) ? child : null;
        return node;
    }

    /// <summary>A copy without the keys that only explain (description, examples, title), for comparing meaning.</summary>
    public static JsonNode? Meaning(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.Where(p => p.Key is not ("description" or "examples" or "title"))
            .Select(p => KeyValuePair.Create(p.Key, Meaning(p.Value)))),
        JsonArray a => new JsonArray([.. a.Select(Meaning)]),
        _ => node?.DeepClone(),
    };

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(p =>
            KeyValuePair.Create(((YamlScalarNode)p.Key).Value!, Convert(p.Value)))),
        YamlSequenceNode list => new JsonArray([.. list.Children.Select(Convert)]),
        YamlScalarNode scalar => Scalar(scalar),
        _ => throw new InvalidDataException($"unexpected YAML node at {node.Start}"),
    };

    // Plain scalars carry YAML's core types; quoted ones are always strings.
    private static JsonNode? Scalar(YamlScalarNode scalar)
    {
        string text = scalar.Value ?? "";
        if (scalar.Style is ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted or ScalarStyle.Literal or ScalarStyle.Folded)
            return JsonValue.Create(text);
        return text switch
        {
            "null" or "~" or "" => null,
            "true" => JsonValue.Create(true),
            "false" => JsonValue.Create(false),
            _ when long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long n) => JsonValue.Create(n),
            _ when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => JsonValue.Create(d),
            _ => JsonValue.Create(text),
        };
    }
}
