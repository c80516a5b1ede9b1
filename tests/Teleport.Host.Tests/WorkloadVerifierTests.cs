using System.Diagnostics;
using Teleport.Host.Tests.Support;
using Teleport.Host.Workload;

namespace Teleport.Host.Tests;

/// <summary>The verifier against volumes written by the real guest workload program (run on the host).</summary>
public sealed class WorkloadVerifierTests : IDisposable
{
    private const int Record = WorkloadRecord.Size;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private async Task<string> WriteVolumeAsync(int records, long sizeRecords = 512, ulong run = 7)
    {
        string path = _dir.File("vol.img");
        await using (var f = File.Create(path))
        {
            f.SetLength(sizeRecords * Record);
        }

        using var writer = Process.Start(Tools.GuestWriter, ["-n", "-c", records.ToString(), "-r", run.ToString(), "-p", "1000", path])
            ?? throw new InvalidOperationException("teleport-writer did not start");
        await writer.WaitForExitAsync();
        Assert.Equal(0, writer.ExitCode);
        return path;
    }

    private static void Patch(string path, long record, Action<byte[]> change)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        byte[] block = new byte[Record];
        f.Position = record * Record;
        f.ReadExactly(block);
        change(block);
        f.Position = record * Record;
        f.Write(block);
    }

    [Fact]
    public async Task IntactVolume_ReportsHighestRecord()
    {
        string path = await WriteVolumeAsync(300);

        var report = await WorkloadVerifier.VerifyAsync(path, expectedRun: 7);

        Assert.True(report.IsIntact, report.ToString());
        Assert.Equal(299, report.HighestSequence);
        Assert.Equal(300, report.ValidRecords);
    }

    [Fact]
    public async Task WriterStopsAtTheEndOfTheVolume()
    {
        string path = await WriteVolumeAsync(1000, sizeRecords: 64);

        var report = await WorkloadVerifier.VerifyAsync(path);

        Assert.True(report.IsIntact, report.ToString());
        Assert.Equal(63, report.HighestSequence);
    }

    [Fact]
    public async Task LostWrite_IsAGap_DamagedRecord_IsCorrupt()
    {
        string path = await WriteVolumeAsync(300);
        Patch(path, 100, b => Array.Clear(b));
        Patch(path, 101, b => Array.Clear(b));
        Patch(path, 200, b => b[2000] ^= 0x40);

        var report = await WorkloadVerifier.VerifyAsync(path);

        Assert.False(report.IsIntact);
        Assert.Equal(299, report.HighestSequence);
        Assert.Equal([100L, 101L], report.Gaps);
        Assert.Equal([200L], report.Corrupt);
        Assert.Equal(297, report.ValidRecords);
        Assert.Contains("2 missing (100, 101)", report.ToString());
    }

    [Fact]
    public async Task RecordInTheWrongPlace_OrFromAnotherRun_OrForeignData_IsCorrupt()
    {
        string path = await WriteVolumeAsync(100);
        byte[] record10 = new byte[Record];
        Patch(path, 10, b => b.CopyTo(record10, 0));
        Patch(path, 11, b => record10.CopyTo(b, 0)); // A misdirected write: intact record, wrong offset.
        Patch(path, 300, b => Array.Fill(b, (byte)0x5a)); // Foreign data past the last record.

        var report = await WorkloadVerifier.VerifyAsync(path, expectedRun: 7);
        Assert.Equal([11L, 300L], report.Corrupt);
        Assert.Equal(0, report.GapCount);

        var otherRun = await WorkloadVerifier.VerifyAsync(path, expectedRun: 8);
        Assert.Equal(101, otherRun.CorruptCount);
        Assert.Equal(-1, otherRun.HighestSequence);
    }

    [Fact]
    public async Task EmptyVolume_HasNoRecords_AndNothingWrong()
    {
        await using var volume = new MemoryStream(new byte[64 * Record + 100]);

        var report = await WorkloadVerifier.VerifyAsync(volume);

        Assert.Equal(-1, report.HighestSequence);
        Assert.Equal(0, report.ValidRecords);
        Assert.True(report.IsIntact);
    }
}
