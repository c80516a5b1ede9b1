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
    public void Json_from_before_mutual_tls_still_deserialises_with_the_new_fields_at_their_defaults()
    {
        // As a worker of the previous release publishes them: no MutualTls, no VolumeBytes.
        var id = Guid.NewGuid();
        string prepared = $$"""
            {"migrationId":"{{id}}","destinationStorageId":"b","volumeId":"v","dataEndpoint":"h:7000","secret":"c2VjcmV0c2VjcmV0c2VjcmV0","certificateSha256":null,
             "nbdEndpoint":"h:10809","exportName":"v","preparedAt":"2026-01-02T03:04:05+00:00","attempt":2}
            """;
        var copy = JsonSerializer.Deserialize<DestinationPrepared>(prepared, Options)!;
        Assert.Equal((id, "c2VjcmV0c2VjcmV0c2VjcmV0", 2, false), (copy.MigrationId, copy.Secret, copy.Attempt, copy.MutualTls));

        string options = """{"blockSize":4096,"bandwidthBytesPerSecond":null,"dirtyThresholdBlocks":8,"maxCopyRounds":3,"compressionLevel":1,"useIndex":false}""";
        Assert.Equal(new MigrationOptions(4096, null, 8, 3, 1, false), JsonSerializer.Deserialize<MigrationOptions>(options, Options));

        string start = $$"""
            {"migrationId":"{{id}}","volumeId":"v","sourceStorageId":"a","destinationStorageId":"b","dataEndpoint":"h:7000","secret":"c2VjcmV0",
             "certificateSha256":"ab","options":{"useIndex":true} }
            """;
        var command = JsonSerializer.Deserialize<StartTransfer>(start, Options)!;
        Assert.Equal(("c2VjcmV0", 1, (long?)null), (command.Secret, command.Attempt, command.Options.VolumeBytes));
    }

    [Fact]
    public void A_mutual_tls_destination_prepared_carries_no_secret_and_round_trips()
    {
        var prepared = new DestinationPrepared(Guid.NewGuid(), "b", "v", "h:7000", null, null, "h:10809", "v", DateTimeOffset.UnixEpoch, 1, MutualTls: true);
        string json = JsonSerializer.Serialize(prepared, Options);
        Assert.DoesNotContain("\"secret\":\"", json);
        Assert.Equal(prepared, JsonSerializer.Deserialize<DestinationPrepared>(json, Options));
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
