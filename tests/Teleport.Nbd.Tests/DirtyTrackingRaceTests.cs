using Microsoft.Win32.SafeHandles;
using Teleport.Blocks;
using Teleport.Nbd.Client;
using Teleport.Nbd.Tests.Support;

namespace Teleport.Nbd.Tests;

/// <summary>
/// The data channel's view: taking dirty blocks and copying them while NBD writes keep coming must never
/// miss a write. That holds only if the export marks blocks after the data reached the file.
/// </summary>
public sealed class DirtyTrackingRaceTests
{
    private const int Size = 1024 * 1024;
    private const int BlockSize = 4096;

    [Fact]
    public async Task CopyingTakenBlocksDuringWrites_EndsWithAnExactMirror()
    {
        await using var harness = ServerHarness.Start();
        var bitmap = new DirtyBitmap(Size / BlockSize, BlockSize);
        harness.AddExport("disk", Size, tracker: bitmap);
        byte[] mirror = new byte[Size];
        using var source = File.OpenHandle(harness.PathOf("disk"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite);

        using var writesDone = new CancellationTokenSource();
        var copier = Task.Run(async () =>
        {
            var taken = new List<BlockRun>();
            while (!writesDone.IsCancellationRequested)
            {
                CopyDirty(bitmap, source, mirror, taken);
                await Task.Yield();
            }
        });

        await using (var client = await NbdClient.ConnectAsync(harness.EndPoint, "disk"))
        {
            var random = new Random(17);
            var writes = new List<Task>();
            for (int i = 0; i < 3000; i++)
            {
                int length = random.Next(1, 3 * BlockSize);
                int offset = random.Next(0, Size - length);
                byte[] data = new byte[length];
                random.NextBytes(data);
                writes.Add(client.WriteAsync(offset, data).AsTask());
                if (writes.Count == 32)
                {
                    await Task.WhenAll(writes);
                    writes.Clear();
                }
            }

            await Task.WhenAll(writes);
        }

        await writesDone.CancelAsync();
        await copier;
        CopyDirty(bitmap, source, mirror, []);
        Assert.Equal(0, bitmap.DirtyCount);
        Assert.True(mirror.AsSpan().SequenceEqual(harness.ReadBacking("disk")), "the mirror missed a write");
    }

    private static void CopyDirty(DirtyBitmap bitmap, SafeFileHandle source, byte[] mirror, List<BlockRun> taken)
    {
        taken.Clear();
        bitmap.TakeDirty(0, bitmap.BlockCount, taken);
        foreach (var run in taken)
        {
            int offset = (int)(run.Start * BlockSize);
            int length = (int)Math.Min(run.Count * BlockSize, Size - offset);
            RandomAccess.Read(source, mirror.AsSpan(offset, length), offset);
        }
    }
}
