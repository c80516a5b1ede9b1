using System.Diagnostics;
using Microsoft.Win32.SafeHandles;
using Teleport.Blocks;
using Teleport.Storage.DirtyTracking;

namespace Teleport.Storage.Tests.DirtyTracking;

/// <summary>
/// Runs inside the kmod test guest (see kmod/test/guest-run.sh) against a fresh 8 MiB dirtytrack device with
/// 4 KiB blocks, and prints one "KMOD-TEST PASS|FAIL dotnet_NAME" line per check for KernelTargetGuestTests.
/// </summary>
public static class KernelTrackerProbe
{
    public const int BlockSize = 4096;
    public const long VolumeBytes = 8L << 20;

    /// <summary>The checks, in order; KernelTargetGuestTests expects each of them to pass.</summary>
    public static readonly string[] Cases =
    [
        "dotnet_locator_finds_tracker", "dotnet_factory_picks_kernel", "dotnet_writes_are_dirty", "dotnet_take_returns_runs",
        "dotnet_mark_and_take_across_windows", "dotnet_bad_ranges_refused", "dotnet_concurrent_writes_not_lost",
        "dotnet_config_mismatch_refused", "dotnet_retired_target_reports_enodev",
    ];

    public static int Run(string volume, TextWriter output)
    {
        int failed = 0;
        void Check(string name, Action check)
        {
            try
            {
                check();
                output.WriteLine($"KMOD-TEST PASS {name}");
            }
            catch (Exception e)
            {
                failed++;
                output.WriteLine($"KMOD-TEST FAIL {name} {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}");
            }
            output.Flush();
        }

        var options = new DirtyTrackingOptions { Mode = DirtyTrackingMode.Kernel, BlockSize = BlockSize };
        string? tracker = null;
        Check(Cases[0], () =>
        {
            tracker = new DirtyTrackDeviceLocator().FindTracker(volume)
                ?? throw new InvalidOperationException($"no tracker found for {volume}");
            Expect(tracker.StartsWith("/dev/dirtytrack/dm-", StringComparison.Ordinal), $"tracker path {tracker}");
        });

        KernelDirtyTracker? kernel = null;
        Check(Cases[1], () =>
        {
            var created = DirtyTrackerFactory.Create(volume, VolumeBytes, options with { Mode = DirtyTrackingMode.Auto });
            kernel = created as KernelDirtyTracker ?? throw new InvalidOperationException($"Auto picked {created.GetType().Name}");
            Expect(kernel.BlockSize == BlockSize && kernel.BlockCount == VolumeBytes / BlockSize, $"geometry {kernel.BlockCount}x{kernel.BlockSize}");
        });
        if (kernel is null)
            return 1;

        using var disk = File.OpenHandle(volume, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, FileOptions.WriteThrough);
        Check(Cases[2], () =>
        {
            kernel.Clear();
            Expect(kernel.DirtyCount == 0, "not clean after Clear");
            foreach (long block in new long[] { 3, 4, 100, kernel.BlockCount - 1 })
                WriteBlock(disk, block, 1);
            Expect(kernel.DirtyCount == 4, $"DirtyCount {kernel.DirtyCount}, expected 4");
            Expect(kernel.IsDirty(3) && kernel.IsDirty(100) && !kernel.IsDirty(5), "IsDirty disagrees with the writes");
        });

        Check(Cases[3], () =>
        {
            var runs = new List<BlockRun> { new(-1, 1) };
            long taken = kernel.TakeDirty(0, kernel.BlockCount, runs);
            ExpectRuns(runs.Skip(1), [new(3, 2), new(100, 1), new(kernel.BlockCount - 1, 1)]);
            Expect(taken == 4 && runs[0] == new BlockRun(-1, 1), $"taken {taken}, or the existing run was touched");
            Expect(kernel.DirtyCount == 0, "blocks left dirty after taking everything");
        });

        Check(Cases[4], () =>
        {
            // A 128-block window: the run [100, 300) spans three takes and must come back whole.
            using var small = KernelDirtyTracker.Open(kernel.DevicePath, 128);
            small.MarkDirty(100, 200);
            small.MarkDirty(1000, 1);
            var runs = new List<BlockRun>();
            Expect(small.TakeDirty(0, 64, runs) == 0 && runs.Count == 0, "took blocks from a clean range");
            Expect(small.TakeDirty(99, 210, runs) == 200, "take [99, 309) did not return 200 blocks");
            ExpectRuns(runs, [new(100, 200)]);
            runs.Clear();
            Expect(small.TakeDirty(0, small.BlockCount, runs) == 1, "block 1000 was not left dirty");
            ExpectRuns(runs, [new(1000, 1)]);
        });

        Check(Cases[5], () =>
        {
            ExpectThrows<ArgumentOutOfRangeException>(() => kernel.MarkDirty(kernel.BlockCount - 1, 2));
            ExpectThrows<ArgumentOutOfRangeException>(() => kernel.MarkDirty(-1, 1));
            ExpectThrows<ArgumentOutOfRangeException>(() => kernel.TakeDirty(0, kernel.BlockCount + 1, []));
            ExpectThrows<ArgumentOutOfRangeException>(() => kernel.IsDirty(kernel.BlockCount));
        });

        Check(Cases[6], () =>
        {
            // Every block a writer wrote is taken while it runs or left dirty at the end.
            long[] written = new long[600];
            var writer = Task.Run(() =>
            {
                var random = new Random(7);
                for (int i = 0; i < written.Length; i++)
                {
                    written[i] = random.NextInt64(kernel.BlockCount);
                    WriteBlock(disk, written[i], i);
                }
            });
            var seen = new HashSet<long>();
            var runs = new List<BlockRun>();
            while (!writer.IsCompleted)
            {
                runs.Clear();
                kernel.TakeDirty(0, kernel.BlockCount, runs);
                seen.UnionWith(runs.SelectMany(r => Enumerable.Range(0, (int)r.Count).Select(k => r.Start + k)));
            }
            writer.GetAwaiter().GetResult();
            runs.Clear();
            kernel.TakeDirty(0, kernel.BlockCount, runs);
            seen.UnionWith(runs.SelectMany(r => Enumerable.Range(0, (int)r.Count).Select(k => r.Start + k)));
            long[] lost = written.Where(b => !seen.Contains(b)).Distinct().ToArray();
            Expect(lost.Length == 0, $"{lost.Length} written blocks never taken, e.g. {string.Join(",", lost.Take(5))}");
        });

        Check(Cases[7], () =>
        {
            ExpectThrows<InvalidOperationException>(() => DirtyTrackerFactory.Create(volume, VolumeBytes, options with { BlockSize = 8192 }));
            ExpectThrows<InvalidOperationException>(() => DirtyTrackerFactory.Create(volume, VolumeBytes * 2, options));
        });

        Check(Cases[8], () =>
        {
            // Replacing the table with a linear one retires the bitmap: the open tracker says so.
            Dmsetup($"reload {Path.GetFileName(volume)} --table \"0 {VolumeBytes / 512} linear /dev/vdb 0\"");
            Dmsetup($"resume {Path.GetFileName(volume)}");
            var e = ExpectThrows<IOException>(() => _ = kernel.DirtyCount);
            Expect(e.Message.Contains("ENODEV", StringComparison.Ordinal), e.Message);
            Expect(new DirtyTrackDeviceLocator().FindTracker(volume) is null, "the tracker device is still there");
        });

        kernel.Dispose();
        return failed == 0 ? 0 : 1;
    }

    private static void WriteBlock(SafeFileHandle disk, long block, int stamp)
    {
        byte[] data = new byte[BlockSize];
        BitConverter.TryWriteBytes(data, stamp);
        BitConverter.TryWriteBytes(data.AsSpan(4), block);
        RandomAccess.Write(disk, data, block * BlockSize);
        RandomAccess.FlushToDisk(disk);
    }

    private static void Dmsetup(string arguments)
    {
        var start = new ProcessStartInfo("dmsetup", arguments) { RedirectStandardError = true };
        start.Environment["DM_DISABLE_UDEV"] = "1";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start dmsetup");
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Expect(process.ExitCode == 0, $"dmsetup {arguments}: {error}");
    }

    private static void ExpectRuns(IEnumerable<BlockRun> actual, BlockRun[] expected)
    {
        var got = actual.ToArray();
        Expect(got.SequenceEqual(expected), $"runs [{string.Join(" ", got)}], expected [{string.Join(" ", expected.AsEnumerable())}]");
    }

    private static T ExpectThrows<T>(Action action) where T : Exception
    {
        try
        {
            action();
        }
        catch (T e)
        {
            return e;
        }
        throw new InvalidOperationException($"expected {typeof(T).Name}");
    }

    private static void Expect(bool condition, string message)
    {
        if (!condition)
            throw new InvalidOperationException(message);
    }
}
