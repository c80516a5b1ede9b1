using System.Net.Sockets;
using System.Security.Cryptography;

namespace Teleport.Transfer.Tests;

/// <summary>The source hashes its volume while it is still connecting, so the first index batches are ready at the handshake's end.</summary>
public sealed class EarlyScanTests
{
    [Fact]
    public async Task A_write_while_the_source_connects_after_its_early_scan_is_sent_again_and_the_copy_is_equal()
    {
        const int Blocks = 64, Changed = 10;
        using var m = new Migration(VolumeBuilder.Build(VolumeBuilder.Repeat("r", Blocks), seed: 31));
        byte[] changed = RandomNumberGenerator.GetBytes(VolumeBuilder.BlockSize);
        int attempts = 0;

        var (source, destination) = await m.RunAsync(m.Destination(), endpoint => m.Source(endpoint) with
        {
            Destination = null,
            Connect = async ct =>
            {
                if (Interlocked.Increment(ref attempts) == 1)
                {
                    // The scan started with the session: by now it has read the whole small volume. The guest writes
                    // a block, then this attempt fails; the early scan must survive it and the write must not be lost.
                    await Task.Delay(1000, ct);
                    using (var file = File.OpenHandle(m.SourcePath, FileMode.Open, FileAccess.Write))
                        RandomAccess.Write(file, changed, (long)Changed * VolumeBuilder.BlockSize);
                    m.Tracker.MarkDirty(Changed, 1);
                    throw new IOException("connection refused (first attempt)");
                }

                var client = new TcpClient();
                await client.ConnectAsync(endpoint, ct);
                return client.GetStream();
            },
        });

        Assert.True(source.Verified && destination.Verified);
        m.AssertEqualVolumes();
        Assert.Equal(1, source.Reconnects);
        // The index listed the block as the scan read it before the write; it went once when requested and once more
        // as dirty. A scan started only once connected would have listed the new content and sent every block once.
        Assert.Equal(Blocks + 1, source.BlocksSent);
    }
}
