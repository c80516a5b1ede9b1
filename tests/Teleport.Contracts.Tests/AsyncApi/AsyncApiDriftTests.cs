using System.Text.Json.Nodes;
using MassTransit;
using MassTransit.Serialization;

namespace Teleport.Contracts.Tests.AsyncApi;

/// <summary>
/// contracts/asyncapi.yaml against the C# contracts: a schema per record equal to the one reflection builds, a
/// message per record that travels on its own, nothing stale, every message reachable from a channel, and the
/// envelope naming every field MassTransit writes.
/// </summary>
public sealed class AsyncApiDriftTests
{
    private static readonly JsonObject Document = AsyncApiDocument.Load();

    /// <summary>Records sent or published on their own: every record that is not only a field of another.</summary>
    public static IReadOnlyList<Type> Messages { get; } =
        [.. ContractTypes.Records.Where(t => !ContractTypes.Records.Any(r => r.GetProperties().Any(p => Unwrapped(p.PropertyType) == t)))];

    /// <summary>Schemas the document holds besides the contracts: MassTransit's envelope.</summary>
    private static readonly string[] EnvelopeSchemas = ["MassTransitEnvelope", "MassTransitHost"];

    [Fact]
    public void Is_an_asyncapi_3_document_for_masstransit_json()
    {
        Assert.StartsWith("3.", Document.At("asyncapi")?.GetValue<string>());
        Assert.Equal("application/vnd.masstransit+json", Document.At("defaultContentType")?.GetValue<string>());
    }

    [Theory]
    [MemberData(nameof(ContractTypes.RecordNames), MemberType = typeof(ContractTypes))]
    public void Schema_matches_the_contract(string contract)
    {
        var type = ContractTypes.ByName(contract);
        var expected = ContractSchemas.For(type);
        var actual = AsyncApiDocument.Meaning(Document.At("components", "schemas", contract));

        Assert.True(actual is not null, $"components/schemas has no {contract}; add:{Environment.NewLine}{expected.ToJsonString()}");
        Assert.True(JsonNode.DeepEquals(Sorted(expected), Sorted(actual)),
            $"components/schemas/{contract} drifted from the C# record.{Environment.NewLine}expected: {expected.ToJsonString()}{Environment.NewLine}document: {actual.ToJsonString()}");
    }

    [Fact]
    public void Has_no_stale_schema_or_message()
    {
        var records = ContractTypes.Records.Select(t => t.Name).Concat(EnvelopeSchemas).ToHashSet();
        var messages = Messages.Select(t => t.Name).ToHashSet();

        var staleSchemas = Names("components", "schemas").Where(n => !records.Contains(n)).ToList();
        var staleMessages = Names("components", "messages").Where(n => !messages.Contains(n)).ToList();

        Assert.True(staleSchemas.Count == 0, $"schemas without a C# contract: {string.Join(", ", staleSchemas)}");
        Assert.True(staleMessages.Count == 0, $"messages without a C# contract: {string.Join(", ", staleMessages)}");
    }

    [Fact]
    public void Every_message_is_the_envelope_around_its_contract()
    {
        var problems = new List<string>();
        foreach (var type in Messages)
        {
            var message = Document.At("components", "messages", type.Name);
            if (message is null)
            {
                problems.Add($"{type.Name}: no message");
                continue;
            }

            string urn = MessageUrn.ForTypeString(type);
            var parts = message.At("payload", "allOf") as JsonArray;
            if (parts is not [var envelope, var body] || envelope.At("$ref")?.GetValue<string>() != "#/components/schemas/MassTransitEnvelope")
                problems.Add($"{type.Name}: payload is not allOf [MassTransitEnvelope, body]");
            else if (body.At("properties", "message", "$ref")?.GetValue<string>() != $"#/components/schemas/{type.Name}")
                problems.Add($"{type.Name}: body.message is not #/components/schemas/{type.Name}");
            else if (body.At("properties", "messageType", "contains", "const")?.GetValue<string>() != urn)
                problems.Add($"{type.Name}: messageType does not contain {urn}");
        }

        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void Every_message_travels_on_a_channel_and_every_reference_resolves()
    {
        var channels = (JsonObject)Document.At("channels")!;
        var carried = new HashSet<string>();
        var problems = new List<string>();
        foreach (var (id, channel) in channels)
        {
            foreach (var (_, reference) in channel.At("messages") as JsonObject ?? [])
            {
                string target = reference.At("$ref")?.GetValue<string>() ?? "";
                string name = target.Split('/')[^1];
                if (!target.StartsWith("#/components/messages/", StringComparison.Ordinal) || Document.At("components", "messages", name) is null)
                    problems.Add($"channel {id}: {target} resolves to no message");
                carried.Add(name);
            }

            // A message type's exchange is named as MassTransit names it: Namespace:Type.
            if (channel.At("bindings", "amqp", "is")?.GetValue<string>() == "routingKey" &&
                channel.At("bindings", "amqp", "exchange", "name")?.GetValue<string>() is { } exchange &&
                exchange.StartsWith("Teleport.Contracts:", StringComparison.Ordinal) &&
                channel.At("messages") is JsonObject only && !(only.Count == 1 && exchange == $"Teleport.Contracts:{only.First().Key}"))
                problems.Add($"channel {id}: exchange {exchange} must carry exactly its own message type");
        }

        foreach (var (id, operation) in Document.At("operations") as JsonObject ?? [])
        {
            string channel = operation.At("channel", "$ref")?.GetValue<string>() ?? "";
            if (!channel.StartsWith("#/channels/", StringComparison.Ordinal) || !channels.ContainsKey(channel["#/channels/".Length..]))
                problems.Add($"operation {id}: channel {channel} does not exist");
        }

        problems.AddRange(Messages.Where(t => !carried.Contains(t.Name)).Select(t => $"{t.Name}: on no channel"));
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void Envelope_names_every_field_masstransit_writes()
    {
        var documented = (Document.At("components", "schemas", "MassTransitEnvelope", "properties") as JsonObject)?.Select(p => p.Key).ToHashSet() ?? [];
        var written = typeof(JsonMessageEnvelope).GetProperties().Select(p => ContractSchemas.JsonName(p.Name)).ToList();

        var missing = written.Where(n => !documented.Contains(n)).ToList();
        var extra = documented.Where(n => !written.Contains(n)).ToList();

        Assert.True(missing.Count == 0 && extra.Count == 0, $"envelope lacks: {string.Join(", ", missing)}; names what MassTransit does not write: {string.Join(", ", extra)}");
    }

    private static IEnumerable<string> Names(params string[] path) => (Document.At(path) as JsonObject)?.Select(p => p.Key) ?? [];

    private static Type Unwrapped(Type type) =>
        Nullable.GetUnderlyingType(type) ?? (type.IsGenericType ? type.GetGenericArguments()[0] : type);

    // Required lists compare as sets: their order carries no meaning.
    private static JsonNode? Sorted(JsonNode? node)
    {
        var copy = node?.DeepClone();
        foreach (var schema in Schemas(copy).ToList())
        {
            if (schema["required"] is JsonArray required)
                schema["required"] = new JsonArray([.. required.Select(r => r!.GetValue<string>()).Order(StringComparer.Ordinal).Select(r => (JsonNode)r)]);
        }

        return copy;
    }

    private static IEnumerable<JsonObject> Schemas(JsonNode? node)
    {
        if (node is not JsonObject o)
            return node is JsonArray a ? a.SelectMany(Schemas) : [];
        return o.Select(p => p.Value).SelectMany(Schemas).Prepend(o);
    }
}
