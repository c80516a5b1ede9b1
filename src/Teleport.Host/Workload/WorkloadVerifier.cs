namespace Teleport.Host.Workload;

/// <summary>Reads a volume written by the guest workload and reports the highest record and any gap or corruption.</summary>
public static class WorkloadVerifier
{
    public const int MaxListed = 1000;

    private const int RecordsPerRead = 256;

    /// <summary>Verifies the volume at <c>path</c>; with <c>expectedRun</c> set, records of another run id count as corrupt.</summary>
    public static async Task<WorkloadReport> VerifyAsync(string path, ulong? expectedRun = null, CancellationToken cancellationToken = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return await VerifyAsync(stream, expectedRun, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Verifies a volume read from its start; a partial last block is ignored.</summary>
    public static async Task<WorkloadReport> VerifyAsync(Stream volume, ulong? expectedRun = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(volume);
        byte[] buffer = new byte[RecordsPerRead * WorkloadRecord.Size];
        var tally = new Tally();
        long index = 0;
        while (true)
        {
            int filled = await ReadFullAsync(volume, buffer, cancellationToken).ConfigureAwait(false);
            int records = filled / WorkloadRecord.Size;
            for (int i = 0; i < records; i++, index++)
                tally.Add(WorkloadRecord.Classify(buffer.AsSpan(i * WorkloadRecord.Size, WorkloadRecord.Size), index, expectedRun), index);
            if (filled < buffer.Length)
                break;
        }

        return tally.Report();
    }

    private static async Task<int> ReadFullAsync(Stream stream, byte[] buffer, CancellationToken cancellationToken)
    {
        int filled = 0;
        while (filled < buffer.Length)
        {
            int read = await stream.ReadAsync(buffer.AsMemory(filled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            filled += read;
        }

        return filled;
    }

    /// <summary>What the blocks read so far hold.</summary>
    private sealed class Tally
    {
        private readonly List<long> _corrupt = [];
        // Runs of empty blocks; those below the highest record are gaps. Runs, not blocks: the unwritten tail
        // of a large volume is one entry.
        private readonly List<(long Start, long Count)> _emptyRuns = [];
        private long _highest = -1, _valid, _corruptCount;

        public void Add(WorkloadBlockKind kind, long index)
        {
            switch (kind)
            {
                case WorkloadBlockKind.Valid:
                    _valid++;
                    _highest = index;
                    break;
                case WorkloadBlockKind.Corrupt:
                    if (_corruptCount++ < MaxListed)
                        _corrupt.Add(index);
                    break;
                default:
                    if (_emptyRuns.Count > 0 && _emptyRuns[^1].Start + _emptyRuns[^1].Count == index)
                        _emptyRuns[^1] = (_emptyRuns[^1].Start, _emptyRuns[^1].Count + 1);
                    else
                        _emptyRuns.Add((index, 1));
                    break;
            }
        }

        public WorkloadReport Report()
        {
            long gapCount = 0;
            var gaps = new List<long>();
            foreach ((long start, long count) in _emptyRuns)
            {
                long end = Math.Min(start + count, _highest);
                for (long block = start; block < end; block++)
                {
                    if (gapCount++ < MaxListed)
                        gaps.Add(block);
                }
            }

            return new WorkloadReport(_highest, _valid, gapCount, _corruptCount, gaps, _corrupt);
        }
    }
}
