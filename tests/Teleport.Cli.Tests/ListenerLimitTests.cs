using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Xunit.Abstractions;

namespace Teleport.Cli.Tests;

/// <summary>
/// The attacks of issue 15 against real `teleport storage` and `teleport receive` processes on their defaults:
/// clients that never read their NBD replies, and strangers announcing maximum-size data-channel frames. Each must
/// leave the process's resident memory within 50 MB of where it started while a real client is served meanwhile.
/// </summary>
public sealed class ListenerLimitTests(ITestOutputHelper output) : IDisposable
{
    private const long Bound = 50L << 20;
    private const int VolumeBytes = 64 << 20;

    private readonly TempDir _dir = new();
    private int _nbdPort;

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Two_nbd_clients_that_never_read_32_MiB_replies_leave_the_worker_memory_bounded()
    {
        await using var storage = await StartStorageAsync(null);
        long start = await WarmedUpResidentBytes(storage);

        var attackers = new List<Socket>();
        try
        {
            long peak = await storage.PeakResidentBytesAsync(async () =>
            {
                for (int c = 0; c < 2; c++)
                {
                    var socket = await NbdAttachAsync();
                    attackers.Add(socket);
                    byte[] requests = new byte[16 * 28];
                    for (int i = 0; i < 16; i++)
                        WriteRequest(requests.AsSpan(i * 28), command: 0, cookie: (ulong)i, offset: 0, length: 32 << 20);
                    await socket.SendAsync(requests);
                }

                // The attack sits there while another client writes and reads back.
                await Task.Delay(TimeSpan.FromSeconds(3));
                await QemuIoAsync("write -P 0x5a 1M 1M", "read -P 0x5a 1M 1M");
                await Task.Delay(TimeSpan.FromSeconds(2));
            });

            AssertBounded(start, peak);
        }
        finally
        {
            attackers.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task Nbd_clients_writing_32_MiB_requests_without_reading_replies_stay_within_the_server_memory_budget()
    {
        // Each connection may have 64 MiB in flight; the budget lets all of them together hold one 32 MiB payload
        // (and READ slices beside it, so the kept payload buffer is not let go for a slice).
        await using var storage = await StartStorageAsync(null, "--nbd-memory-budget", "33M");
        long start = await WarmedUpResidentBytes(storage);

        byte[] payload = new byte[32 << 20];
        Array.Fill(payload, (byte)0xc3);
        var attackers = new List<Socket>();
        try
        {
            for (int c = 0; c < 6; c++)
                attackers.Add(await NbdAttachAsync());
            long peak = await storage.PeakResidentBytesAsync(async () =>
            {
                // Above the region qemu-io checks; the replies are never read.
                var floods = attackers.Select(async (socket, c) =>
                {
                    byte[] header = new byte[28];
                    for (int i = 0; i < 2; i++)
                    {
                        WriteRequest(header, command: 1, cookie: (ulong)(c * 2 + i), offset: 32 << 20, length: 32 << 20);
                        await socket.SendAsync(header);
                        await socket.SendAsync(payload);
                    }
                }).ToArray();

                await QemuIoAsync("write -P 0x5a 1M 1M", "read -P 0x5a 1M 1M");
                await Task.WhenAll(floods).WaitAsync(TimeSpan.FromMinutes(3));
                await QemuIoAsync("read -P 0xc3 32M 32M");
            });

            AssertBounded(start, peak);
        }
        finally
        {
            attackers.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task An_nbd_client_that_never_reads_its_replies_is_stopped_then_cut_off()
    {
        var environment = new Dictionary<string, string> { ["TELEPORT_STORAGE__NBD__REPLYTIMEOUT"] = "00:00:03" };
        await using var storage = await StartStorageAsync(environment);
        long start = await WarmedUpResidentBytes(storage);

        using var attacker = await NbdAttachAsync();
        Exception? cutOff = null;
        var watch = Stopwatch.StartNew();
        long peak = await storage.PeakResidentBytesAsync(async () =>
        {
            // Reads and writes of 1 MiB without end; the server must stop reading us, then hang up.
            var flood = Task.Run(async () =>
            {
                byte[] write = new byte[28 + (1 << 20)];
                byte[] read = new byte[28];
                try
                {
                    for (ulong i = 0; ; i++)
                    {
                        WriteRequest(write, command: 1, cookie: i, offset: (i % 32) << 20, length: 1 << 20);
                        WriteRequest(read, command: 0, cookie: i, offset: (i % 64) << 20, length: 1 << 20);
                        await attacker.SendAsync(write);
                        await attacker.SendAsync(read);
                    }
                }
                catch (SocketException e)
                {
                    cutOff = e;
                }
            });

            await Task.Delay(TimeSpan.FromSeconds(1));
            await QemuIoAsync("write -P 0x6b 40M 1M", "read -P 0x6b 40M 1M");
            await flood.WaitAsync(TimeSpan.FromSeconds(90));
            output.WriteLine($"cut off after {watch.Elapsed}");
        });

        Assert.NotNull(cutOff);
        Assert.Contains("made no progress for 00:00:03", storage.Output, StringComparison.Ordinal);
        AssertBounded(start, peak);
        await QemuIoAsync("read -P 0x6b 40M 1M");
    }

    [Fact]
    public async Task Two_hundred_strangers_announcing_maximum_frames_leave_the_receiver_memory_bounded()
    {
        string secret = _dir.File("secret");
        File.WriteAllBytes(secret, System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        string source = _dir.File("source.img");
        File.WriteAllBytes(source, System.Security.Cryptography.RandomNumberGenerator.GetBytes(2 << 20));
        string target = _dir.File("target.img");
        int port = FreePort.Next();
        await using var receiver = TeleportProcess.Start(null, "receive", "--listen", $"127.0.0.1:{port}", "--volume", target, "--secret-file", secret);
        await receiver.WaitForOutputAsync("Receiving migration", TimeSpan.FromSeconds(60));
        await Task.Delay(TimeSpan.FromSeconds(1));
        long start = receiver.ResidentBytes();

        long peak = await receiver.PeakResidentBytesAsync(async () =>
        {
            // From another loopback address, so the per-peer cap does not count the real sender among them.
            var strangers = Enumerable.Range(0, 200).Select(_ => AnnounceMaximumFrameAsync(port)).ToArray();
            var send = Task.Run(() => CliRun.Of("send", "--to", $"127.0.0.1:{port}", "--volume", source, "--secret-file", secret));
            await Task.WhenAll(strangers);
            var sent = await send.WaitAsync(TimeSpan.FromMinutes(2));
            Assert.True(sent.ExitCode == 0, $"send failed: {sent.Stderr}");
            await receiver.WaitForExitAsync(TimeSpan.FromMinutes(1));
        });

        Assert.Equal(0, receiver.ExitCode);
        Assert.Equal(File.ReadAllBytes(source), File.ReadAllBytes(target));
        AssertBounded(start, peak);
    }

    private void AssertBounded(long start, long peak)
    {
        output.WriteLine($"RSS {start >> 20} MiB at the start, {peak >> 20} MiB at the peak");
        Assert.True(peak - start < Bound, $"RSS went from {start >> 20} MiB to {peak >> 20} MiB");
    }

    private static async Task AnnounceMaximumFrameAsync(int port)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0));
        byte[] frame = new byte[8 + (1 << 20)];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, 0x110000); // the largest payload the protocol allows
        frame[4] = 1; // Hello
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, port);
            await socket.SendAsync(frame);
            // Hold the connection a while, as an attacker would.
            await Task.Delay(TimeSpan.FromSeconds(2));
        }
        catch (SocketException)
        {
            // Refused or reset: what the receiver should do to a stranger.
        }
    }

    private async Task<TeleportProcess> StartStorageAsync(IReadOnlyDictionary<string, string>? environment, params string[] flags)
    {
        string volumes = _dir.File("volumes");
        Directory.CreateDirectory(volumes);
        using (var file = File.Create(Path.Combine(volumes, "disk.img")))
            file.SetLength(VolumeBytes);
        _nbdPort = FreePort.Next();
        var storage = TeleportProcess.Start(environment, ["storage", "--id", "limits", "--volumes", volumes, "--nbd-listen", $"127.0.0.1:{_nbdPort}",
            "--data-listen", "127.0.0.1:0", "--bus", "memory", .. flags]);
        await storage.WaitForOutputAsync("over NBD on", TimeSpan.FromSeconds(60));
        return storage;
    }

    /// <summary>The resident set once the worker has served a large read and written (JIT, pools and caches warm).</summary>
    private async Task<long> WarmedUpResidentBytes(TeleportProcess storage)
    {
        await QemuIoAsync("write -P 0x11 0 32M", "read -P 0x11 0 32M");
        await Task.Delay(TimeSpan.FromSeconds(1));
        return storage.ResidentBytes();
    }

    /// <summary>A raw client through the fixed newstyle handshake (NBD_OPT_EXPORT_NAME "disk") that will never read a reply.</summary>
    private async Task<Socket> NbdAttachAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, _nbdPort);
        byte[] greeting = new byte[18];
        await ReceiveExactAsync(socket, greeting);
        Assert.Equal(0x4e42444d41474943UL, BinaryPrimitives.ReadUInt64BigEndian(greeting));
        byte[] hello = new byte[4 + 16 + 4];
        BinaryPrimitives.WriteUInt32BigEndian(hello, 3); // fixed newstyle, no zeroes
        BinaryPrimitives.WriteUInt64BigEndian(hello.AsSpan(4), 0x49484156454F5054UL);
        BinaryPrimitives.WriteUInt32BigEndian(hello.AsSpan(12), 1); // NBD_OPT_EXPORT_NAME
        BinaryPrimitives.WriteUInt32BigEndian(hello.AsSpan(16), 4);
        "disk"u8.CopyTo(hello.AsSpan(20));
        await socket.SendAsync(hello);
        byte[] export = new byte[10];
        await ReceiveExactAsync(socket, export);
        Assert.Equal((ulong)VolumeBytes, BinaryPrimitives.ReadUInt64BigEndian(export));
        return socket;
    }

    private static void WriteRequest(Span<byte> request, ushort command, ulong cookie, ulong offset, uint length)
    {
        BinaryPrimitives.WriteUInt32BigEndian(request, 0x25609513);
        BinaryPrimitives.WriteUInt16BigEndian(request[4..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(request[6..], command);
        BinaryPrimitives.WriteUInt64BigEndian(request[8..], cookie);
        BinaryPrimitives.WriteUInt64BigEndian(request[16..], offset);
        BinaryPrimitives.WriteUInt32BigEndian(request[24..], length);
    }

    private static async Task ReceiveExactAsync(Socket socket, byte[] buffer)
    {
        for (int got = 0; got < buffer.Length;)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(got));
            Assert.True(n > 0, "the server closed the connection");
            got += n;
        }
    }

    private async Task QemuIoAsync(params string[] commands)
    {
        var (exitCode, text) = await StorageWorkerRunTests.QemuIoResult($"nbd://127.0.0.1:{_nbdPort}/disk", commands);
        Assert.True(exitCode == 0 && !text.Contains("Pattern verification failed", StringComparison.Ordinal),
            $"qemu-io {string.Join(" ; ", commands)} failed ({exitCode}): {text}");
    }
}
