using System.Text.Json;
using System.Text.Json.Serialization;

namespace Teleport.Cli.Infrastructure;

/// <summary>Byte arrays in the CLI's JSON (digests) as lowercase hex, as people compare them, not base64.</summary>
internal sealed class HexBytesConverter : JsonConverter<byte[]>
{
    public override byte[] Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        throw new NotSupportedException("the CLI writes JSON, it never reads it back");

    public override void Write(Utf8JsonWriter writer, byte[] value, JsonSerializerOptions options) =>
        writer.WriteStringValue(Convert.ToHexStringLower(value));
}
