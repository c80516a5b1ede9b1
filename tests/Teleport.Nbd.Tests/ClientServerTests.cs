using System.Net.Sockets;
using Teleport.Blocks;
using Teleport.Nbd.Client;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Server;
using Teleport.Nbd.Tests.Support;

namespace Teleport.Nbd.Tests;

/// <summary>Our client against our server.</summary>
public sealed class ClientServerTests
{
    private const int MiB = 1024 * 1024;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ManyConcurrentRequests_BigAndSmall_AllLandAndReadBack(bool structured)
    {
        await using var harness = ServerHarness.Start(new NbdServerOptions { MaxInFlightRequests = 8 });
        harness.AddExport("disk", 16 * MiB);
        await using var client = await NbdClient.ConnectAsync(harness.EndPoint, "disk", new NbdClientOptions { StructuredReplies = structured });
        Assert.Equal(structured, client.StructuredReplies);

        // 256 regions of 64 KiB, each written in pieces of varying size, all at once.
        byte[] expected = new byte[16 * MiB];
        new Random(11).NextBytes(expected);
        var writes = new List<Task>();
        var random = new Random(5);
        for (int region = 0; region < 256; region++)
        {
            int start = region * 64 * 1024;
            int end = start + 64 * 1024;
            for (int at = start; at < end;)
            {
                int length = Math.Min(end - at, random.Next(1, 5) switch { 1 => 512, 2 => 4096, 3 => 7000, _ => 32 * 1024 });
                writes.Add(client.WriteAsync(at, expected.AsMemory(at, length)).AsTask());
                at += length;
            }
        }

        await Task.WhenAll(writes);
        await client.FlushAsync();
        Assert.Equal(expected, harness.ReadBacking("disk"));

        byte[] actual = new byte[16 * MiB];
        var reads = new List<Task>();
        for (int at = 0; at < actual.Length;)
        {
            int length = Math.Min(actual.Length - at, random.Next(1, 4) switch { 1 => 4096, 2 => 100_000, _ => MiB });
            reads.Add(client.ReadAsync(at, actual.AsMemory(at, length)).AsTask());
            at += length;
        }

        await Task.WhenAll(reads);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public async Task LargestRequest_32MiB_RoundTrips_AndLargerIsRefusedBeforeSending()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", 33 * MiB);
        await using var client = await NbdClient.ConnectAsync(harness.EndPoint, "disk");
        Assert.Equal(32 * MiB, client.Export.MaximumPayload);

        byte[] data = new byte[32 * MiB];
        new Random(1).NextBytes(data);
        await client.WriteAsync(MiB, data, fua: true);
        byte[] back = new byte[32 * MiB];
        await client.ReadAsync(MiB, back);
        Assert.Equal(data, back);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => client.ReadAsync(0, new byte[32 * MiB + 1]).AsTask());
    }

    [Fact]
    public async Task TrimAndWriteZeroes_ReadBackAsZeroes_AndMarkDirty()
    {
        await using var harness = ServerHarness.Start();
        var bitmap = new DirtyBitmap(4 * MiB / 65536, 65536);
        harness.AddExport("disk", 4 * MiB, tracker: bitmap, fill: _ => 0x77);
        await using var client = await NbdClient.ConnectAsync(harness.EndPoint, "disk");

        await client.TrimAsync(100_000, 50_000);
        await client.WriteZeroesAsync(MiB, 65536, fua: true);
        await client.WriteZeroesAsync(3 * MiB + 1, 10, noHole: true);

        byte[] back = new byte[4 * MiB];
        await client.ReadAsync(0, back);
        for (int i = 0; i < back.Length; i++)
        {
            bool zero = i is >= 100_000 and < 150_000 || i is >= MiB and < MiB + 65536 || i is >= 3 * MiB + 1 and < 3 * MiB + 11;
            Assert.True(back[i] == (zero ? 0 : 0x77), $"byte {i} is {back[i]}");
        }

        var taken = new List<BlockRun>();
        bitmap.TakeDirty(0, bitmap.BlockCount, taken);
        Assert.Equal([new BlockRun(1, 2), new BlockRun(16, 1), new BlockRun(48, 1)], taken);
    }

    [Fact]
    public async Task ReadBeyondEnd_IsEinval_AndConnectionStaysUsable()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", MiB, fill: _ => 3);
        await using var client = await NbdClient.ConnectAsync(harness.EndPoint, "disk");

        var error = await Assert.ThrowsAsync<NbdCommandException>(() => client.ReadAsync(MiB - 10, new byte[20]).AsTask());
        Assert.Equal(NbdError.InvalidArgument, error.Error);
        Assert.False(string.IsNullOrEmpty(error.ServerMessage));
        var write = await Assert.ThrowsAsync<NbdCommandException>(() => client.WriteAsync(MiB, new byte[1]).AsTask());
        Assert.Equal(NbdError.NoSpace, write.Error);

        byte[] tail = new byte[10];
        await client.ReadAsync(MiB - 10, tail);
        Assert.All(tail, b => Assert.Equal(3, b));
    }

    [Fact]
    public async Task ReadOnlyExport_RefusesWrites_WithEperm()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("ro", MiB, readOnly: true, fill: _ => 9);
        await using var client = await NbdClient.ConnectAsync(harness.EndPoint, "ro");
        Assert.True(client.Export.IsReadOnly);
        Assert.False(client.Export.Has(NbdTransmissionFlags.SendTrim));

        var error = await Assert.ThrowsAsync<NbdCommandException>(() => client.WriteAsync(0, new byte[4096]).AsTask());
        Assert.Equal(NbdError.NotPermitted, error.Error);
        var trim = await Assert.ThrowsAsync<NbdCommandException>(() => client.TrimAsync(0, 4096).AsTask());
        Assert.Equal(NbdError.InvalidArgument, trim.Error);

        byte[] back = new byte[4096];
        await client.ReadAsync(0, back);
        Assert.All(back, b => Assert.Equal(9, b));
        Assert.All(harness.ReadBacking("ro"), b => Assert.Equal(9, b));
    }

    [Fact]
    public async Task ListAndUnknownExport_GiveClearAnswers()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("b", MiB);
        harness.AddExport("a", 2 * MiB);

        var exports = await NbdClient.ListExportsAsync(harness.EndPoint);
        Assert.Equal([new NbdExportEntry("a", "test export a"), new NbdExportEntry("b", "test export b")], exports);

        var refused = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(harness.EndPoint, "c"));
        Assert.Equal(NbdOptionReplyType.ErrorUnknown, refused.Reply);
        Assert.Contains("'c'", refused.Message);
    }

    [Fact]
    public async Task AnExportThatAppearsWhileTheClientWaits_IsJoinedOnTheSameConnection()
    {
        await using var harness = ServerHarness.Start();
        var connecting = NbdClient.ConnectAsync(harness.EndPoint, "late", new NbdClientOptions { ExportWait = TimeSpan.FromSeconds(20) });
        for (int i = 0; i < 500 && harness.Server.ConnectionCount == 0; i++)
            await Task.Delay(10);
        Assert.Equal(1, harness.Server.ConnectionCount);
        await Task.Delay(200); // ~20 refused NBD_OPT_GO on that connection
        Assert.False(connecting.IsCompleted);
        Assert.Equal(1, harness.Server.ConnectionCount);

        harness.AddExport("late", MiB);
        await using var client = await connecting;
        Assert.Equal(MiB, client.Export.Size);
        Assert.Equal(1, harness.Server.ConnectionCount);
        Assert.Equal(1, harness.Server.ClientsOf("late"));
        await client.WriteAsync(0, new byte[] { 7 });
        await client.FlushAsync();
        Assert.Equal(7, harness.ReadBacking("late")[0]);

        // Past the wait the refusal stands.
        var refused = await Assert.ThrowsAsync<NbdOptionException>(() =>
            NbdClient.ConnectAsync(harness.EndPoint, "never", new NbdClientOptions { ExportWait = TimeSpan.FromMilliseconds(100) }));
        Assert.Equal((NbdOption.Go, NbdOptionReplyType.ErrorUnknown), (refused.Option, refused.Reply));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() =>
            NbdClient.ConnectAsync(harness.EndPoint, "late", new NbdClientOptions { ExportWait = TimeSpan.FromSeconds(-1) }));
    }

    [Fact]
    public async Task TwoConnections_ShareTheExport_FlushOnOneCoversBoth()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", MiB);
        await using var first = await NbdClient.ConnectAsync(harness.EndPoint, "disk");
        await using var second = await NbdClient.ConnectAsync(harness.EndPoint, "disk", new NbdClientOptions { StructuredReplies = false });
        Assert.True(first.Export.Has(NbdTransmissionFlags.CanMultiConn));

        await first.WriteAsync(4096, new byte[] { 1, 2, 3 });
        await second.FlushAsync();
        byte[] back = new byte[3];
        await second.ReadAsync(4096, back);
        Assert.Equal(new byte[] { 1, 2, 3 }, back);
        Assert.Equal(2, harness.Server.ConnectionCount);
    }

    [Fact]
    public async Task UnixDomainSocket_ServesTheSameProtocol()
    {
        await using var harness = ServerHarness.Start();
        harness.AddExport("disk", MiB);
        string path = Path.Combine(harness.Directory, "nbd.sock");
        harness.Server.Listen(new UnixDomainSocketEndPoint(path));

        await using var client = await NbdClient.ConnectAsync(new UnixDomainSocketEndPoint(path), "disk");
        await client.WriteAsync(0, new byte[] { 42 });
        byte[] back = new byte[1];
        await client.ReadAsync(0, back);
        Assert.Equal(42, back[0]);
        var qemu = await QemuTools.RunAsync(QemuTools.QemuIo, "-f", "raw", $"nbd+unix:///disk?socket={path}", "-c", "read -P 42 0 1");
        Assert.True(qemu.ExitCode == 0 && !qemu.Output.Contains("fail", StringComparison.OrdinalIgnoreCase), qemu.Output);
    }

    [Fact]
    public async Task ServerStop_FailsTheClientCleanly()
    {
        var harness = ServerHarness.Start();
        try
        {
            harness.AddExport("disk", MiB);
            await using var client = await NbdClient.ConnectAsync(harness.EndPoint, "disk");
            await client.ReadAsync(0, new byte[512]);
            await harness.Server.StopAsync();
            await Assert.ThrowsAsync<NbdConnectionException>(() => client.ReadAsync(0, new byte[512]).AsTask());
        }
        finally
        {
            await harness.DisposeAsync();
        }
    }

    [Fact]
    public async Task ServerWithoutStructuredReplies_RefusesThem_AndSimpleRepliesWork()
    {
        await using var harness = ServerHarness.Start(new NbdServerOptions { AllowStructuredReplies = false });
        harness.AddExport("disk", MiB, fill: _ => 4);
        await using var client = await NbdClient.ConnectAsync(harness.EndPoint, "disk");
        Assert.False(client.StructuredReplies);
        Assert.False(client.Export.Has(NbdTransmissionFlags.SendDf));

        byte[] back = new byte[MiB];
        await client.ReadAsync(0, back);
        Assert.All(back, b => Assert.Equal(4, b));
        var error = await Assert.ThrowsAsync<NbdCommandException>(() => client.ReadAsync(MiB, new byte[1]).AsTask());
        Assert.Equal(NbdError.InvalidArgument, error.Error);
        await QemuTools.QemuIoAsync(harness.Url("disk"), "read -P 4 0 1M", "write -P 5 0 4k", "read -P 5 0 4k");
    }

    [Fact]
    public async Task FileExport_RefusesATrackerThatIsTooSmall()
    {
        await using var harness = ServerHarness.Start();
        Assert.Throws<ArgumentException>(() => harness.AddExport("disk", MiB, tracker: new DirtyBitmap(10, 4096)));
    }
}
