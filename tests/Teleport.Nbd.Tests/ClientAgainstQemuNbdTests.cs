using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Tests.Support;

namespace Teleport.Nbd.Tests;

/// <summary>Our client against the real qemu-nbd: proves the client speaks the protocol, not just our dialect.</summary>
public sealed class ClientAgainstQemuNbdTests : IDisposable
{
    private const int MiB = 1024 * 1024;
    private readonly string _directory = Directory.CreateTempSubdirectory("teleport-qemu-nbd-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ConcurrentReadsAndWrites_RoundTrip(bool structured)
    {
        string file = CreateFile(8 * MiB);
        await using var qemu = await QemuNbdProcess.StartAsync(file, "vol", "a volume");
        await using var client = await NbdClient.ConnectAsync(qemu.EndPoint, "vol", new NbdClientOptions { StructuredReplies = structured });
        Assert.Equal(8 * MiB, client.Size);
        Assert.Equal(structured, client.StructuredReplies);
        Assert.True(client.Export.Has(NbdTransmissionFlags.SendFlush | NbdTransmissionFlags.SendTrim | NbdTransmissionFlags.SendWriteZeroes));

        byte[] expected = new byte[4 * MiB];
        new Random(2).NextBytes(expected);
        var writes = new List<Task>();
        for (int at = 0; at < expected.Length; at += 64 * 1024)
        {
            writes.Add(client.WriteAsync(MiB + at, expected.AsMemory(at, 64 * 1024)).AsTask());
        }

        await Task.WhenAll(writes);
        await client.FlushAsync();

        byte[] back = new byte[4 * MiB];
        var reads = new List<Task>();
        for (int at = 0; at < back.Length; at += 256 * 1024)
        {
            reads.Add(client.ReadAsync(MiB + at, back.AsMemory(at, 256 * 1024)).AsTask());
        }

        await Task.WhenAll(reads);
        Assert.Equal(expected, back);
        await client.DisconnectAsync();

        byte[] onDisk = await File.ReadAllBytesAsync(file);
        Assert.Equal(expected, onDisk.AsSpan(MiB, 4 * MiB).ToArray());
    }

    [Fact]
    public async Task SparseReads_HolesAndData_AreReassembled()
    {
        // Data at the start and end, a hole in the middle: with structured replies qemu-nbd answers the
        // read with OFFSET_DATA and OFFSET_HOLE chunks, which the client must stitch together.
        string file = Path.Combine(_directory, "sparse.img");
        await using (var stream = new FileStream(file, FileMode.Create))
        {
            stream.SetLength(4 * MiB);
            stream.Write(Enumerable.Repeat((byte)0x61, 64 * 1024).ToArray());
            stream.Position = 3 * MiB;
            stream.Write(Enumerable.Repeat((byte)0x62, 64 * 1024).ToArray());
        }

        await using var qemu = await QemuNbdProcess.StartAsync(file, "sparse", "sparse");
        await using var client = await NbdClient.ConnectAsync(qemu.EndPoint, "sparse");
        byte[] back = new byte[4 * MiB];
        back.AsSpan().Fill(0xff);
        await client.ReadAsync(0, back);
        Assert.Equal(await File.ReadAllBytesAsync(file), back);
    }

    [Fact]
    public async Task TrimAndWriteZeroes_ReadBackAsZeroes()
    {
        string file = CreateFile(2 * MiB, 0x33);
        await using var qemu = await QemuNbdProcess.StartAsync(file, "vol", "v");
        await using var client = await NbdClient.ConnectAsync(qemu.EndPoint, "vol");

        await client.WriteZeroesAsync(0, 65536, fua: true);
        await client.TrimAsync(MiB, 65536);
        await client.WriteZeroesAsync(MiB + 65536, 4096, noHole: true);
        byte[] back = new byte[2 * MiB];
        await client.ReadAsync(0, back);
        Assert.All(back[..65536], b => Assert.Equal(0, b));
        Assert.All(back[65536..MiB], b => Assert.Equal(0x33, b));
        Assert.All(back[(MiB + 65536)..(MiB + 65536 + 4096)], b => Assert.Equal(0, b));
        Assert.All(back[(MiB + 65536 + 4096)..], b => Assert.Equal(0x33, b));
    }

    [Fact]
    public async Task ListUnknownExportAndOutOfRange_AreReportedClearly()
    {
        string file = CreateFile(MiB);
        await using var qemu = await QemuNbdProcess.StartAsync(file, "vol", "the volume");

        var exports = await NbdClient.ListExportsAsync(qemu.EndPoint);
        Assert.Equal([new NbdExportEntry("vol", "the volume")], exports);

        var refused = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(qemu.EndPoint, "missing"));
        Assert.Equal(NbdOptionReplyType.ErrorUnknown, refused.Reply);
        // Asking again on the same connection after a refused NBD_OPT_GO is within the protocol: qemu-nbd keeps haggling.
        var again = await Assert.ThrowsAsync<NbdOptionException>(() =>
            NbdClient.ConnectAsync(qemu.EndPoint, "missing", new NbdClientOptions { ExportWait = TimeSpan.FromMilliseconds(300) }));
        Assert.Equal((NbdOption.Go, NbdOptionReplyType.ErrorUnknown), (again.Option, again.Reply));

        await using var client = await NbdClient.ConnectAsync(qemu.EndPoint, "vol");
        var error = await Assert.ThrowsAsync<NbdCommandException>(() => client.ReadAsync(MiB - 1, new byte[2]).AsTask());
        Assert.Equal(NbdError.InvalidArgument, error.Error);
        byte[] one = new byte[1];
        await client.ReadAsync(MiB - 1, one);
    }

    private string CreateFile(int size, byte fill = 0)
    {
        string path = Path.Combine(_directory, $"disk-{Guid.NewGuid():N}.img");
        byte[] bytes = new byte[size];
        bytes.AsSpan().Fill(fill);
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
