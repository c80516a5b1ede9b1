using Teleport.Blocks;
using Teleport.Nbd.Tests.Support;

namespace Teleport.Nbd.Tests;

/// <summary>Our server driven by the real qemu-io and qemu-img.</summary>
public sealed class QemuClientTests
{
    private const int MiB = 1024 * 1024;

    [Fact]
    public async Task QemuIo_WriteThenRead_RoundTripsAndLandsInTheBackingFile()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", 4 * MiB);

        await QemuTools.QemuIoAsync(harness.Url("disk"),
            "write -P 0xab 0 64k", "write -P 0x5c 1M 4k", "write -P 0x11 3000 1000",
            "read -P 0xab 0 2000", "read -P 0x11 3000 1000", "read -P 0xab 4000 60k", "read -P 0x5c 1M 4k", "read -P 0 2M 1M");

        byte[] backing = harness.ReadBacking("disk");
        Assert.All(backing[..3000], b => Assert.Equal(0xab, b));
        Assert.All(backing[3000..4000], b => Assert.Equal(0x11, b));
        Assert.All(backing[4000..65536], b => Assert.Equal(0xab, b));
        Assert.All(backing[65536..MiB], b => Assert.Equal(0, b));
        Assert.All(backing[MiB..(MiB + 4096)], b => Assert.Equal(0x5c, b));
        Assert.All(backing[(MiB + 4096)..], b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task QemuIo_ReadsWhatIsInTheBackingFile()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", MiB, fill: i => i < 512 * 1024 ? (byte)0x42 : (byte)0);

        // The zero half arrives as hole chunks (structured replies), the rest as data.
        await QemuTools.QemuIoAsync(harness.Url("disk"), "read -P 0x42 0 512k", "read -P 0 512k 512k", "read -P 0x42 4096 1");
    }

    [Fact]
    public async Task QemuIo_DiscardAndWriteZeroes_ReadBackAsZeroesInExportAndFile()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", 4 * MiB, fill: _ => 0xee);

        await QemuTools.QemuIoAsync(harness.Url("disk"),
            "discard 64k 64k", "write -z 1M 128k", "write -z -u 2M 4k", "flush",
            "read -P 0 64k 64k", "read -P 0 1M 128k", "read -P 0 2M 4k", "read -P 0xee 0 64k", "read -P 0xee 128k 64k");

        byte[] backing = harness.ReadBacking("disk");
        Assert.All(backing[(64 * 1024)..(128 * 1024)], b => Assert.Equal(0, b));
        Assert.All(backing[MiB..(MiB + 128 * 1024)], b => Assert.Equal(0, b));
        Assert.All(backing[(2 * MiB)..(2 * MiB + 4096)], b => Assert.Equal(0, b));
        Assert.All(backing[..(64 * 1024)], b => Assert.Equal(0xee, b));
        Assert.All(backing[(3 * MiB)..], b => Assert.Equal(0xee, b));
    }

    [Fact]
    public async Task QemuIo_Writes_MarkExactlyTheirBlocksDirty()
    {
        await using var harness = ServerHarness.Start();
        var bitmap = new DirtyBitmap(4 * MiB / 4096, 4096);
        harness.AddExport("disk", 4 * MiB, tracker: bitmap);

        await QemuTools.QemuIoAsync(harness.Url("disk"),
            "write -P 1 0 4k",          // block 0
            "write -P 2 10000 100",     // block 2 (8192..12287)
            "write -P 3 65535 2",       // blocks 15 and 16
            "discard 1M 8k",            // blocks 256, 257
            "write -z 2M 12k",          // blocks 512..514
            "read 3M 64k");             // reads dirty nothing

        var taken = new List<BlockRun>();
        bitmap.TakeDirty(0, bitmap.BlockCount, taken);
        Assert.Equal([new BlockRun(0, 1), new BlockRun(2, 1), new BlockRun(15, 2), new BlockRun(256, 2), new BlockRun(512, 3)], taken);
    }

    [Fact]
    public async Task QemuImg_InfoConvertAndCompare_SeeTheExportAsIs()
    {
        await using var harness = ServerHarness.Start();
        var random = new Random(7);
        byte[] pattern = new byte[8 * MiB];
        random.NextBytes(pattern.AsSpan(0, 3 * MiB));
        random.NextBytes(pattern.AsSpan(5 * MiB, MiB));
        harness.AddExport("disk", pattern.Length, fill: i => pattern[i]);
        string copy = Path.Combine(harness.Directory, "copy.img");

        var info = await QemuTools.RunAsync(QemuTools.QemuImg, "info", "-f", "raw", harness.Url("disk"));
        Assert.True(info.ExitCode == 0, info.Output);
        Assert.Contains($"({pattern.Length} bytes)", info.Output);

        var convert = await QemuTools.RunAsync(QemuTools.QemuImg, "convert", "-f", "raw", "-O", "raw", harness.Url("disk"), copy);
        Assert.True(convert.ExitCode == 0, convert.Output);
        Assert.Equal(pattern, File.ReadAllBytes(copy));

        var compare = await QemuTools.RunAsync(QemuTools.QemuImg, "compare", "-f", "raw", "-F", "raw", harness.Url("disk"), copy);
        Assert.True(compare.ExitCode == 0, compare.Output);
        Assert.Contains("identical", compare.Output);
    }

    [Fact]
    public async Task QemuImg_ConvertIntoTheExport_WritesEveryByte()
    {
        await using var harness = ServerHarness.Start();
        var bitmap = new DirtyBitmap(2 * MiB / 4096, 4096);
        harness.AddExport("target", 2 * MiB, tracker: bitmap);
        byte[] source = new byte[2 * MiB];
        new Random(3).NextBytes(source);
        string sourcePath = Path.Combine(harness.Directory, "source.img");
        await File.WriteAllBytesAsync(sourcePath, source);

        var convert = await QemuTools.RunAsync(QemuTools.QemuImg, "convert", "-n", "-f", "raw", "-O", "raw", sourcePath, harness.Url("target"));
        Assert.True(convert.ExitCode == 0, convert.Output);

        Assert.Equal(source, harness.ReadBacking("target"));
        Assert.Equal(bitmap.BlockCount, bitmap.DirtyCount);
    }

    [Fact]
    public async Task QemuImg_MissingExport_FailsCleanly_AndServerKeepsServing()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", MiB);

        var info = await QemuTools.RunAsync(QemuTools.QemuImg, "info", "-f", "raw", harness.Url("nope"));
        Assert.NotEqual(0, info.ExitCode);
        Assert.Contains("nope", info.Output);

        var ok = await QemuTools.RunAsync(QemuTools.QemuImg, "info", "-f", "raw", harness.Url("disk"));
        Assert.True(ok.ExitCode == 0, ok.Output);
    }

    [Fact]
    public async Task QemuNbdList_ShowsEveryExportWithItsDescription()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("alpha", MiB);
        harness.AddExport("beta", 2 * MiB, readOnly: true);

        var list = await QemuTools.RunAsync(QemuTools.QemuNbd, "--list", "-b", "127.0.0.1", "-p", harness.EndPoint.Port.ToString());
        Assert.True(list.ExitCode == 0, list.Output);
        Assert.Contains("exports available: 2", list.Output);
        Assert.Contains("export: 'alpha'", list.Output);
        Assert.Contains("export: 'beta'", list.Output);
        Assert.Contains("description: test export beta", list.Output);
        Assert.Contains("size:  2097152", list.Output);
        Assert.Contains("readonly", list.Output);
    }

    [Fact]
    public async Task QemuIo_ReadOnlyExport_CannotBeOpenedForWriting_ButReads()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("ro", MiB, readOnly: true, fill: _ => 7);

        // qemu sees NBD_FLAG_READ_ONLY and refuses a read-write open (as with qemu-nbd -r).
        var result = await QemuTools.RunAsync(QemuTools.QemuIo, "-f", "raw", harness.Url("ro"), "-c", "write -P 1 0 4k");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("Permission denied", result.Output);
        var read = await QemuTools.RunAsync(QemuTools.QemuIo, "-r", "-f", "raw", harness.Url("ro"), "-c", "read -P 7 0 1M");
        Assert.True(read.ExitCode == 0 && !read.Output.Contains("fail", StringComparison.OrdinalIgnoreCase), read.Output);
        Assert.All(harness.ReadBacking("ro"), b => Assert.Equal(7, b));
    }
}
