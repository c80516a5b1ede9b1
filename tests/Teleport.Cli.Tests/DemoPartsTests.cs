using Teleport.Cli.Demo;
using Teleport.Host.Workload;

namespace Teleport.Cli.Tests;

/// <summary>The demo's generated images and the in-process VM's records, without the rest of the system.</summary>
public sealed class DemoPartsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("teleport-demo-parts-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task The_images_are_deterministic_and_the_layout_adds_up()
    {
        var first = DemoImages.Generate(Directory.CreateDirectory(Path.Combine(_dir, "a")).FullName, Path.Combine(_dir, "a"), "vol", 4 << 20);
        var second = DemoImages.Generate(Directory.CreateDirectory(Path.Combine(_dir, "b")).FullName, Path.Combine(_dir, "b"), "vol", 4 << 20);

        Assert.Equal(File.ReadAllBytes(first.VolumePath), File.ReadAllBytes(second.VolumePath));
        Assert.Equal(File.ReadAllBytes(first.BasePath), File.ReadAllBytes(second.BasePath));
        Assert.Equal(1024, first.Blocks);
        Assert.Equal(first.Blocks, first.BlocksFromBase + first.NewBlocks + first.ZeroBlocks);
        Assert.Equal(0, first.WindowFirstBlock);
        Assert.Equal(first.Blocks / 8, first.WindowBlocks);
        Assert.True(first.BlocksFromBase > 0 && first.NewBlocks > 0, first.ToString());
        // The VM's window is zero until it writes: every block of it reads as empty.
        await using var window = new FileWindowStream(first.VolumePath, first.WindowOffset, first.WindowBytes);
        var report = await WorkloadVerifier.VerifyAsync(window);
        Assert.Equal(-1, report.HighestSequence);
        Assert.Equal(0, report.CorruptCount);
    }

    [Theory]
    [InlineData(0L, 1UL)]
    [InlineData(12345L, 0xDEADBEEFUL)]
    public void The_vm_writes_records_the_verifier_accepts_for_its_run_only(long sequence, ulong run)
    {
        byte[] record = new byte[WorkloadRecord.Size];
        WritingVm.Fill(record, sequence, run);

        Assert.Equal(WorkloadBlockKind.Valid, WorkloadRecord.Classify(record, sequence, run));
        Assert.Equal(WorkloadBlockKind.Corrupt, WorkloadRecord.Classify(record, sequence, run + 1));
        Assert.Equal(WorkloadBlockKind.Corrupt, WorkloadRecord.Classify(record, sequence + 1, run));
        record[100] ^= 1;
        Assert.Equal(WorkloadBlockKind.Corrupt, WorkloadRecord.Classify(record, sequence, run));
    }
}
