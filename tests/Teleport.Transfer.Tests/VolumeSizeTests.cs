namespace Teleport.Transfer.Tests;

/// <summary>
/// A destination prepared for one volume size refuses a source announcing another: both sides end with
/// VolumeMismatch naming both sizes, the source volume is untouched and no destination volume is created. So does a
/// destination whose fence (fenced cut-over, built when it was prepared) has another size or block size.
/// </summary>
public sealed class VolumeSizeTests
{
    private const int MiB = 1 << 20;

    [Theory]
    [InlineData(4 * MiB, 8 * MiB)]
    [InlineData(8 * MiB, 4 * MiB)]
    public async Task A_source_of_another_size_than_the_prepared_one_is_refused_and_nothing_is_written(int sourceBytes, int preparedBytes)
    {
        byte[] volume = new byte[sourceBytes];
        new Random(sourceBytes).NextBytes(volume);
        using var m = new Migration(volume);
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        await using var destination = new DestinationSession(m.Destination(o => o with { ExpectedVolumeBytes = preparedBytes }));
        var endpoint = destination.Start();
        var destinationRun = destination.RunAsync(guard.Token);
        await using var source = new SourceSession(m.Source(endpoint), m.Tracker);
        var sourceFailure = await Assert.ThrowsAsync<TransferException>(() => source.RunAsync(guard.Token));
        var destinationFailure = await Assert.ThrowsAsync<TransferException>(() => destinationRun);

        Assert.Equal(TransferErrorCode.VolumeMismatch, destinationFailure.Code);
        Assert.Equal(TransferErrorCode.VolumeMismatch, sourceFailure.Code);
        Assert.True(sourceFailure.Remote, $"the source should have been told by the destination: {sourceFailure.Message}");
        foreach (var failure in new[] { sourceFailure, destinationFailure })
        {
            Assert.Contains($"{sourceBytes} bytes", failure.Message);
            Assert.Contains($"prepared for {preparedBytes}", failure.Message);
        }

        Assert.False(File.Exists(m.DestinationPath), "the refused destination created its volume");
        Assert.Equal(volume, await File.ReadAllBytesAsync(m.SourcePath));
    }

    [Theory]
    [InlineData(4 * MiB, 8 * MiB, 4096)]
    [InlineData(4 * MiB, 4 * MiB, 8192)]
    public async Task A_fence_built_for_another_geometry_refuses_the_source_and_writes_nothing(int sourceBytes, int fenceBytes, int fenceBlockSize)
    {
        byte[] volume = new byte[sourceBytes];
        new Random(sourceBytes).NextBytes(volume);
        using var m = new Migration(volume);
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var fence = new Teleport.Blocks.BlockFence(fenceBytes, fenceBlockSize, TimeSpan.FromSeconds(5));

        await using var destination = new DestinationSession(m.Destination(o => o with { Fence = fence }));
        var endpoint = destination.Start();
        var destinationRun = destination.RunAsync(guard.Token);
        await using var source = new SourceSession(m.Source(endpoint, o => o with { FencedCutover = true }), m.Tracker);
        var sourceFailure = await Assert.ThrowsAsync<TransferException>(() => source.RunAsync(guard.Token));
        var destinationFailure = await Assert.ThrowsAsync<TransferException>(() => destinationRun);

        Assert.Equal(TransferErrorCode.VolumeMismatch, destinationFailure.Code);
        Assert.Equal(TransferErrorCode.VolumeMismatch, sourceFailure.Code);
        Assert.Contains($"the fenced cut-over was prepared for {fenceBytes} bytes in blocks of {fenceBlockSize}", destinationFailure.Message);
        Assert.False(fence.Armed);
        Assert.False(File.Exists(m.DestinationPath), "the refused destination created its volume");
        Assert.Equal(volume, await File.ReadAllBytesAsync(m.SourcePath));
    }

    [Fact]
    public async Task A_source_of_the_prepared_size_is_received_whole()
    {
        using var m = new Migration(VolumeBuilder.Build(VolumeBuilder.Repeat("rzta", 16), seed: 15));

        var (source, destination) = await m.RunAsync(m.Destination(o => o with { ExpectedVolumeBytes = 64 * VolumeBuilder.BlockSize }), ep => m.Source(ep));

        Assert.True(source.Verified && destination.Verified, "the transfer was not verified");
        m.AssertEqualVolumes();
    }
}
