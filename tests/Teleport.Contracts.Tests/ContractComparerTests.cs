namespace Teleport.Contracts.Tests;

/// <summary>The comparer and the sample builder the other tests rely on do catch what they are meant to catch.</summary>
public sealed class ContractComparerTests
{
    [Fact]
    public void Names_a_changed_nested_field()
    {
        var original = new ContractSamples(seed: 4).Create<MigrationRequested>();
        var changed = original with { Options = original.Options with { MaxCopyRounds = original.Options.MaxCopyRounds + 1 } };

        var differences = ContractComparer.Differences(original, changed);

        Assert.Equal(["MigrationRequested.Options.MaxCopyRounds: expected " + original.Options.MaxCopyRounds + ", got " + changed.Options.MaxCopyRounds], differences);
    }

    [Fact]
    public void Sees_an_offset_change_that_equals_ignores()
    {
        var original = new ContractSamples(seed: 5).Create<VmPaused>();
        var sameInstantUtc = original with { PausedAt = original.PausedAt.ToUniversalTime() };

        Assert.NotEqual(TimeSpan.Zero, original.PausedAt.Offset);
        Assert.Single(ContractComparer.Differences(original, sameInstantUtc));
    }

    [Fact]
    public void Samples_give_every_field_of_a_kind_a_different_value()
    {
        var sample = new ContractSamples(seed: 6).Create<MigrationRequested>();

        // Distinct ids: a serializer swapping SourceStorageId and DestinationStorageId would be caught.
        string[] ids = [sample.VmId, sample.VolumeId, sample.SourceStorageId, sample.DestinationStorageId, sample.HostId];
        Assert.Equal(ids.Length, ids.Distinct().Count());
        Assert.NotEqual(Guid.Empty, sample.MigrationId);
        Assert.NotEqual(new MigrationOptions(), sample.Options);
        Assert.False(sample.Options.UseIndex);
    }

    [Fact]
    public void Null_samples_leave_nullable_fields_null_and_others_set()
    {
        var sample = new ContractSamples(seed: 7, nullWhereAllowed: true).Create<StartTransfer>();

        Assert.Null(sample.CertificateSha256);
        Assert.Null(sample.Options.BlockSize);
        Assert.Null(sample.Secret); // nullable: mutual TLS puts no secret on the bus
        Assert.NotEmpty(sample.VolumeId);
        Assert.NotEmpty(sample.DataEndpoint);
    }
}
