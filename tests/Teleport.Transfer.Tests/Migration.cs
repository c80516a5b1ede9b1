using System.Net;
using System.Security.Cryptography;
using Teleport.Blocks;

namespace Teleport.Transfer.Tests;

/// <summary>One source volume, one destination path, one secret: runs both sessions on loopback.</summary>
public sealed class Migration : IDisposable
{
    public Migration(byte[] source, int blockSize = VolumeBuilder.BlockSize)
    {
        File.WriteAllBytes(SourcePath, source);
        Tracker = new DirtyBitmap(BlockSizes.CountBlocks(source.Length, blockSize), blockSize);
        BlockSize = blockSize;
    }

    public TempDir Dir { get; } = new();

    public Guid Id { get; } = Guid.NewGuid();

    public byte[] Secret { get; } = RandomNumberGenerator.GetBytes(32);

    public int BlockSize { get; }

    public string SourcePath => Dir.File("source.img");

    public string DestinationPath => Dir.File("destination.img");

    public DirtyBitmap Tracker { get; }

    public DestinationOptions Destination(Func<DestinationOptions, DestinationOptions>? tweak = null)
    {
        var options = new DestinationOptions
        {
            MigrationId = Id,
            Secret = Secret,
            VolumePath = DestinationPath,
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            CompletionLinger = TimeSpan.FromSeconds(5),
        };
        return tweak is null ? options : tweak(options);
    }

    public SourceOptions Source(IPEndPoint destination, Func<SourceOptions, SourceOptions>? tweak = null)
    {
        var options = new SourceOptions
        {
            MigrationId = Id,
            Secret = Secret,
            VolumePath = SourcePath,
            Destination = destination,
            BlockSize = BlockSize,
            AutoCutover = true,
            ReconnectDelay = TimeSpan.FromMilliseconds(50),
            DirtyThresholdBlocks = 0,
        };
        return tweak is null ? options : tweak(options);
    }

    /// <summary>Runs both sides to the end (60 s guard). <paramref name="connectTo"/> redirects the source (e.g. via a proxy).</summary>
    public async Task<(TransferResult Source, TransferResult Destination)> RunAsync(
        DestinationOptions destinationOptions,
        Func<IPEndPoint, SourceOptions> sourceOptions,
        Func<IPEndPoint, IPEndPoint>? connectTo = null,
        Func<SourceSession, Task>? drive = null)
    {
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var destination = new DestinationSession(destinationOptions);
        var endpoint = destination.Start();
        var destinationRun = destination.RunAsync(guard.Token);
        await using var source = new SourceSession(sourceOptions(connectTo?.Invoke(endpoint) ?? endpoint), Tracker);
        var sourceRun = source.RunAsync(guard.Token);
        var driving = drive?.Invoke(source) ?? Task.CompletedTask;
        try
        {
            var sourceResult = await sourceRun;
            await driving;
            var destinationResult = await destinationRun;
            return (sourceResult, destinationResult);
        }
        finally
        {
            await guard.CancelAsync();
            await Task.WhenAll(Quiet(sourceRun), Quiet(destinationRun), Quiet(driving));
        }
    }

    private static async Task Quiet(Task task)
    {
        try
        {
            await task;
        }
        catch (Exception)
        {
        }
    }

    public void AssertEqualVolumes()
    {
        byte[] expected = File.ReadAllBytes(SourcePath);
        byte[] actual = File.ReadAllBytes(DestinationPath);
        Assert.Equal(expected.Length, actual.Length);
        Assert.True(expected.AsSpan().SequenceEqual(actual), "destination volume differs from the source");
    }

    public void Dispose() => Dir.Dispose();
}
