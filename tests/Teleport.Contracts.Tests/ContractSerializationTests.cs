using System.Text.Json;
using MassTransit.Serialization;

namespace Teleport.Contracts.Tests;

/// <summary>Every contract survives MassTransit's System.Text.Json settings, field for field.</summary>
public sealed class ContractSerializationTests
{
    private static JsonSerializerOptions Options => SystemTextJsonMessageSerializer.Options;

    [Theory]
    [MemberData(nameof(ContractTypes.RecordNames), MemberType = typeof(ContractTypes))]
    public void Round_trips_with_every_field_set(string contract)
    {
        var type = ContractTypes.ByName(contract);
        object original = new ContractSamples(seed: 1).Create(type);

        string json = JsonSerializer.Serialize(original, type, Options);
        object? copy = JsonSerializer.Deserialize(json, type, Options);

        Assert.NotNull(copy);
        ContractComparer.AssertSame(original, copy);
    }

    [Theory]
    [MemberData(nameof(ContractTypes.RecordNames), MemberType = typeof(ContractTypes))]
    public void Round_trips_with_nullable_fields_null(string contract)
    {
        var type = ContractTypes.ByName(contract);
        object original = new ContractSamples(seed: 2, nullWhereAllowed: true).Create(type);

        object? copy = JsonSerializer.Deserialize(JsonSerializer.Serialize(original, type, Options), type, Options);

        Assert.NotNull(copy);
        ContractComparer.AssertSame(original, copy);
    }

    [Theory]
    [MemberData(nameof(ContractTypes.RecordNames), MemberType = typeof(ContractTypes))]
    public void Json_names_every_property(string contract)
    {
        // A property the serializer skips (no getter, [JsonIgnore], a non-public type) would silently vanish on the bus.
        var type = ContractTypes.ByName(contract);
        var json = JsonSerializer.SerializeToElement(new ContractSamples(seed: 3).Create(type), type, Options);

        var names = json.EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var missing = type.GetProperties().Select(p => p.Name).Where(n => !names.Contains(n)).ToList();

        Assert.True(missing.Count == 0, $"{contract} JSON lacks: {string.Join(", ", missing)} ({json})");
    }

    [Fact]
    public void Migration_requested_json_keeps_large_numbers_and_offsets_exact()
    {
        var requested = new MigrationRequested(
            Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"),
            "vm-7",
            "vol-7",
            "storage-ams",
            "storage-fra",
            "host-12",
            new MigrationOptions(BlockSize: 65_536, BandwidthBytesPerSecond: long.MaxValue, DirtyThresholdBlocks: 9_007_199_254_740_993,
                MaxCopyRounds: 30, CompressionLevel: -5, UseIndex: false),
            new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromMinutes(-150)).AddTicks(1));

        var copy = JsonSerializer.Deserialize<MigrationRequested>(JsonSerializer.Serialize(requested, Options), Options);

        Assert.NotNull(copy);
        ContractComparer.AssertSame(requested, copy);
        Assert.Equal(9_007_199_254_740_993, copy.Options.DirtyThresholdBlocks);
        Assert.Equal(TimeSpan.FromMinutes(-150), copy.RequestedAt.Offset);
    }

    [Fact]
    public void Default_options_come_back_as_defaults()
    {
        var copy = JsonSerializer.Deserialize<MigrationOptions>(JsonSerializer.Serialize(new MigrationOptions(), Options), Options);

        Assert.Equal(new MigrationOptions(), copy);
        Assert.True(copy!.UseIndex);
    }

    [Fact]
    public void Prepare_destination_json_from_before_allowed_client_still_reads()
    {
        const string json = """
            {"migrationId":"0f8fad5b-d9cb-469f-a165-70867728950e","volumeId":"vol-1","sourceStorageId":"a","destinationStorageId":"b",
             "options":{"blockSize":4096},"attempt":2}
            """;

        var copy = JsonSerializer.Deserialize<PrepareDestination>(json, Options);

        Assert.NotNull(copy);
        Assert.Equal(("vol-1", 2, null), (copy.VolumeId, copy.Attempt, copy.AllowedClient));
    }

    [Fact]
    public void Discovery_finds_the_contracts()
    {
        // Guards the reflection above: if discovery broke, every theory would pass on an empty list.
        Assert.Contains(typeof(MigrationRequested), ContractTypes.Records);
        Assert.Contains(typeof(PrepareDestination), ContractTypes.Messages);
        Assert.Contains(typeof(MigrationOptions), ContractTypes.Records);
        Assert.DoesNotContain(typeof(MigrationOptions), ContractTypes.Messages);
        Assert.DoesNotContain(typeof(WorkerQueues), ContractTypes.Records);
        Assert.True(ContractTypes.Messages.Count >= 20, $"only {ContractTypes.Messages.Count} messages found");
    }
}
