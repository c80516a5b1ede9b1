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
        long highest = -1;
        long valid = 0;
        long corruptCount = 0;
        var corrupt = new List<long>();
        // Runs of empty blocks; those below the highest record are gaps. Runs, not blocks: the unwritten tail
        // of a large volume is one entry.
        var emptyRuns = new List<(long Start, long Count)>();
        long index = 0;
        while (true)
        {
            int filled = await ReadFullAsync(volume, buffer, cancellationToken).ConfigureAwait(false);
            int records = filled / WorkloadRecord.Size;
            for (int i = 0; i < records; i++, index++)
            {
                switch (WorkloadRecord.Classify(buffer.AsSpan(i * WorkloadRecord.Size, WorkloadRecord.Size), index, expectedRun))
                {
                    case WorkloadBlockKind.Valid:
                        valid++;
                        highest = index;
                        break;
                    case WorkloadBlockKind.Corrupt:
                        corruptCount++;
                        if (corrupt.Count < MaxListed)
                        {
                            corrupt.Add(index);
                        }

                        break;
                    default:
                        if (emptyRuns.Count > 0 && emptyRuns[^1].Start + emptyRuns[^1].Count == index)
                        {
                            emptyRuns[^1] = (emptyRuns[^1].Start, emptyRuns[^1].Count + 1);
                        }
                        else
                        {
                            emptyRuns.Add((index, 1));
                        }

                        break;
                }
            }

            if (filled < buffer.Length)
            {
                break;
            }
        }

        long gapCount = 0;
        var gaps = new List<long>();
        foreach ((long start, long count) in emptyRuns)
        {
            long end = Math.Min(start + count, highest);
            for (long block = start; block < end; block++)
            {
                gapCount++;
                if (gaps.Count < MaxListed)
                {
                    gaps.Add(block);
                }
            }
        }

        return new WorkloadReport(highest, valid, gapCount, corruptCount, gaps, corrupt);
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
}
