using Teleport.Nbd.Client;
using static Teleport.Nbd.Tests.Fencing.FencedVolume;

namespace Teleport.Nbd.Tests.Fencing;

/// <summary>
/// Random interleavings of the tail's arrivals (resends included) with guest reads, full and partial writes and
/// write-zeroes over a real NBD connection, against the model the fence promises: the guest sees the source's image
/// plus its own writes, whatever the order, and nothing waiting completes before what it waits for has arrived.
/// </summary>
public sealed class FencedExportPropertyTests
{
    private const int Blocks = 24;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public async Task RandomInterleavings_MatchTheModel(int seed)
    {
        var random = new Random(seed);
        var fenced = Enumerable.Range(0, Blocks).Where(_ => random.Next(3) != 0).Select(b => (long)b).ToHashSet();
        await using var volume = new FencedVolume(Blocks, fenced, seed: seed);
        await using var client = await NbdClient.ConnectAsync(volume.EndPoint, Name);
        byte[] model = (byte[])volume.Source.Clone();
        var pending = new List<GuestOp>();
        var done = new List<GuestOp>();

        for (int step = 0; step < 400; step++)
        {
            CheckCompleted(pending, fenced, done);
            int choice = pending.Count >= 10 ? 0 : random.Next(6);
            if (choice <= 1)
            {
                long block = choice == 0 && fenced.Count > 0 ? fenced.ElementAt(random.Next(fenced.Count)) : random.Next(Blocks);
                fenced.Remove(block); // before the arrival: an I/O waiting on it may complete at once
                volume.Arrive(block);
                continue;
            }

            var (offset, length) = RandomRange(random, choice == 2 && random.Next(2) == 0);
            if (pending.Any(p => p.Overlaps(offset, length)))
                continue;
            pending.Add(choice switch
            {
                2 or 3 => Write(client, random, model, fenced, offset, length),
                4 => Read(client, model, fenced, offset, length),
                _ => Zero(client, model, fenced, offset, length),
            });
        }

        foreach (long block in fenced.ToList())
        {
            fenced.Remove(block);
            volume.Arrive(block);
        }

        await Task.WhenAll(pending.Select(p => p.Task)).WaitAsync(TimeSpan.FromSeconds(30));
        done.AddRange(pending);
        foreach (var read in done.Where(p => p.Expected is not null))
            Assert.True(read.Expected.AsSpan().SequenceEqual(read.Buffer), $"read at {read.Offset}+{read.Length} saw other bytes than the model");
        Assert.Equal(model, volume.OnDisk());
        Assert.Equal(0, volume.Fence.FencedCount);
    }

    private static void CheckCompleted(List<GuestOp> pending, HashSet<long> fenced, List<GuestOp> done)
    {
        foreach (var op in pending.Where(p => p.Task.IsCompleted).ToList())
        {
            var waitedFor = op.Blockers.Where(fenced.Contains).ToList();
            Assert.True(waitedFor.Count == 0, $"I/O at {op.Offset}+{op.Length} completed before blocks {string.Join(',', waitedFor)} arrived");
            op.Task.GetAwaiter().GetResult();
            pending.Remove(op);
            done.Add(op);
        }
    }

    private static (long Offset, int Length) RandomRange(Random random, bool wholeBlocks)
    {
        if (wholeBlocks)
        {
            int first = random.Next(Blocks), count = random.Next(1, Math.Min(3, Blocks - first) + 1);
            return ((long)first * BlockSize, count * BlockSize);
        }

        int length = random.Next(1, 3 * BlockSize);
        return (random.Next(0, Blocks * BlockSize - length), length);
    }

    private static GuestOp Write(NbdClient client, Random random, byte[] model, HashSet<long> fenced, long offset, int length)
    {
        byte[] data = new byte[length];
        random.NextBytes(data);
        var op = GuestOp.ForWrite(offset, length, fenced);
        data.CopyTo(model, offset);
        op.Task = client.WriteAsync(offset, data).AsTask();
        return op;
    }

    private static GuestOp Zero(NbdClient client, byte[] model, HashSet<long> fenced, long offset, int length)
    {
        var op = GuestOp.ForWrite(offset, length, fenced);
        model.AsSpan((int)offset, length).Clear();
        op.Task = client.WriteZeroesAsync(offset, (uint)length).AsTask();
        return op;
    }

    private static GuestOp Read(NbdClient client, byte[] model, HashSet<long> fenced, long offset, int length)
    {
        var blockers = Enumerable.Range((int)(offset / BlockSize), (int)((offset + length - 1) / BlockSize - offset / BlockSize + 1))
            .Select(b => (long)b).Where(fenced.Contains).ToList();
        var op = new GuestOp(offset, length, blockers) { Expected = model.AsSpan((int)offset, length).ToArray(), Buffer = new byte[length] };
        op.Task = client.ReadAsync(offset, op.Buffer).AsTask();
        return op;
    }

    private sealed class GuestOp(long offset, int length, List<long> blockers)
    {
        public long Offset { get; } = offset;

        public int Length { get; } = length;

        /// <summary>Fenced blocks this I/O must wait for.</summary>
        public List<long> Blockers { get; } = blockers;

        public Task Task { get; set; } = Task.CompletedTask;

        public byte[]? Expected { get; init; }

        public byte[] Buffer { get; init; } = [];

        public bool Overlaps(long offset, int length) => offset < Offset + Length && Offset < offset + length;

        /// <summary>A write waits for the fenced blocks it covers in part; the ones it covers whole become the guest's at once.</summary>
        public static GuestOp ForWrite(long offset, int length, HashSet<long> fenced)
        {
            var blockers = new List<long>();
            for (long b = offset / BlockSize; b <= (offset + length - 1) / BlockSize; b++)
            {
                bool whole = offset <= b * BlockSize && offset + length >= (b + 1) * BlockSize;
                if (whole)
                    fenced.Remove(b);
                else if (fenced.Contains(b))
                    blockers.Add(b);
            }

            return new GuestOp(offset, length, blockers);
        }
    }
}
