using System.Runtime.ExceptionServices;

namespace Teleport.Blocks;

/// <summary>
/// Reads the images an update scans: each image in 32 MiB ranges, the ranges shared among workers. Each worker
/// sorts and de-duplicates its entries into one run, for the index to merge.
/// </summary>
internal sealed class ImageScan : IDisposable
{
    private const int WorkItemBytes = 32 << 20;

    private readonly List<Job> _jobs;
    private readonly int _blockSize;
    private readonly Func<Fingerprint, IndexKey> _keyOf;
    private long _blocks, _zeroBlocks;

    private ImageScan(List<Job> jobs, int blockSize, Func<Fingerprint, IndexKey> keyOf)
    {
        _jobs = jobs;
        _blockSize = blockSize;
        _keyOf = keyOf;
    }

    /// <summary>One image to read, and what reading it found.</summary>
    public sealed class Job(ImageRecord image, ImageScanner scanner, ImageIdentity identity)
    {
        public ImageRecord Image { get; } = image;
        public ImageScanner Scanner { get; } = scanner;
        public ImageIdentity Identity { get; } = identity;
        public long ZeroBlocks;
    }

    public sealed record Result(List<EntryRun> Runs, long[] SharedByImage, long Blocks, long ZeroBlocks, long BytesRead);

    public IReadOnlyList<Job> Jobs => _jobs;

    /// <summary>Opens every image to read; throws (having closed what it opened) when one cannot be read.</summary>
    public static ImageScan Open(IReadOnlyList<(ImageRecord Image, ImageIdentity Identity)> images, int blockSize, Func<Fingerprint, IndexKey> keyOf)
    {
        var scan = new ImageScan(new List<Job>(images.Count), blockSize, keyOf);
        try
        {
            foreach (var (image, identity) in images)
            {
                ImageScanner scanner;
                try
                {
                    scanner = ImageScanner.Open(image.Path, blockSize);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    throw new IOException($"Cannot read image '{image.Path}': {e.Message}", e);
                }
                scan._jobs.Add(new Job(image, scanner, identity));
                if (scanner.BlockCount > IndexEntry.MaxBlock + 1)
                    throw new ArgumentException($"Image '{image.Path}' has {scanner.BlockCount} blocks; the index holds at most {IndexEntry.MaxBlock + 1} per image.");
            }
        }
        catch
        {
            scan.Dispose();
            throw;
        }
        return scan;
    }

    /// <summary>Reads every image on at most <paramref name="maxParallelism"/> workers.</summary>
    public Result Run(int maxParallelism, CancellationToken ct)
    {
        var items = WorkItems();
        int workers = Math.Max(1, Math.Min(maxParallelism, items.Count));
        var runs = new EntryRun[workers];
        long[][] shared = new long[workers][];
        int idLimit = _jobs.Count == 0 ? 1 : _jobs.Max(j => j.Image.Id) + 1;
        int nextItem = -1;
        try
        {
            Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers, CancellationToken = ct }, worker =>
            {
                var entries = new IndexEntry[1024];
                int count = 0;
                int item;
                while ((item = Interlocked.Increment(ref nextItem)) < items.Count)
                {
                    ct.ThrowIfCancellationRequested();
                    Read(items[item], ref entries, ref count);
                }
                shared[worker] = new long[idLimit];
                runs[worker] = EntryTable.SortAndDeduplicate(entries, count, shared[worker]);
            });
        }
        catch (AggregateException e) when (e.InnerExceptions.Count == 1)
        {
            ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
        }
        long[] sharedByImage = new long[idLimit];
        foreach (long[] counts in shared)
            for (int id = 0; id < idLimit; id++)
                sharedByImage[id] += counts[id];
        return new Result([.. runs], sharedByImage, _blocks, _zeroBlocks, _jobs.Sum(j => j.Scanner.BytesRead));
    }

    public void Dispose()
    {
        foreach (var job in _jobs)
            job.Scanner.Dispose();
    }

    private List<(Job Job, long First, long Count)> WorkItems()
    {
        var items = new List<(Job Job, long First, long Count)>();
        long itemBlocks = Math.Max(1, WorkItemBytes / _blockSize);
        foreach (var job in _jobs)
            for (long first = 0; first < job.Scanner.BlockCount; first += itemBlocks)
                items.Add((job, first, Math.Min(itemBlocks, job.Scanner.BlockCount - first)));
        return items;
    }

    // Appends an entry per non-zero block of one range to the worker's entries; zero blocks are only counted.
    private void Read((Job Job, long First, long Count) item, ref IndexEntry[] entries, ref int count)
    {
        var (job, first, length) = item;
        int imageId = job.Image.Id;
        long zero = 0;
        foreach (var scanned in job.Scanner.Blocks(first, length))
        {
            if (scanned.IsZero)
            {
                zero++;
                continue;
            }
            if (count == entries.Length)
                Array.Resize(ref entries, checked(entries.Length * 2));
            entries[count++] = new IndexEntry(_keyOf(scanned.Fingerprint), imageId, scanned.Number);
        }
        Interlocked.Add(ref job.ZeroBlocks, zero);
        Interlocked.Add(ref _zeroBlocks, zero);
        Interlocked.Add(ref _blocks, length);
    }
}
