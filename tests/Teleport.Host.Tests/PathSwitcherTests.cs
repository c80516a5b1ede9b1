using System.Net.Sockets;
using Teleport.Host.Switching;
using Teleport.Host.Tests.Support;
using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using Xunit.Abstractions;

namespace Teleport.Host.Tests;

/// <summary>The path switcher between real NBD servers (Teleport.Nbd) and real clients (qemu-io, NbdClient).</summary>
public sealed class PathSwitcherTests(ITestOutputHelper output) : IDisposable
{
    private const int MiB = 1024 * 1024;
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string LocalUrl(PathSwitcher switcher) => $"nbd+unix:///{switcher.ExportName}?socket={((UnixDomainSocketEndPoint)switcher.LocalEndPoint)}";

    private Task<PathSwitcher> StartSwitcherAsync(Upstream upstream, PathSwitcherOptions? options = null) =>
        PathSwitcher.StartAsync(new UnixDomainSocketEndPoint(_dir.File("local.sock")), upstream.Target, "vm-disk0", options);

    [Fact]
    public async Task QemuIo_ThroughSwitcher_ReadsAndWritesTheUpstreamFile()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", 4 * MiB);
        await using var switcher = await StartSwitcherAsync(a);

        Assert.Equal(4 * MiB, switcher.Size);
        await using var io = await QemuIoSession.StartAsync(LocalUrl(switcher));
        await io.RunAsync("write -P 0x5a 4k 64k");
        await io.RunAsync("write -z 1M 128k");
        await io.RunAsync("flush");
        await io.RunAsync("read -P 0x5a 4k 64k");
        await io.RunAsync("read -P 0 0 4k");

        byte[] file = a.ReadFile();
        Assert.All(file[4096..(4096 + 65536)], b => Assert.Equal(0x5a, b));
        Assert.All(file[..4096], b => Assert.Equal(0, b));
        Assert.True(a.Export.Flushes >= 1);
    }

    [Fact]
    public async Task Switch_IdleClient_EarlierWritesStayOnA_LaterWritesGoToB_SameConnection()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", 4 * MiB);
        await using var switcher = await StartSwitcherAsync(a);
        await using var io = await QemuIoSession.StartAsync(LocalUrl(switcher));
        for (int i = 0; i < 8; i++)
        {
            await io.RunAsync($"write -P 0x{0x10 + i:x2} {i * 64}k 64k");
        }

        // Final sync stand-in: the destination gets a copy of A while the client is idle.
        File.Copy(a.FilePath, _dir.File("b.img"));
        await using var b = Upstream.Start(_dir.File("b.sock"), _dir.File("b.img"), "vol-b", 4 * MiB);

        var result = await switcher.SwitchAsync(b.Target);
        output.WriteLine($"switch (idle qemu-io): connect {result.Connect.TotalMilliseconds:0.###} ms, drain {result.Drain.TotalMilliseconds:0.###} ms, " +
            $"flush {result.Flush.TotalMilliseconds:0.###} ms, requests held {result.Blocked.TotalMilliseconds:0.###} ms, total {result.Total.TotalMilliseconds:0.###} ms");

        Assert.Equal(b.Target, switcher.Current);
        Assert.Equal(a.Target, switcher.Previous);
        Assert.Equal(a.Target, result.From);
        // qemu-io writes through (FUA): every write A acknowledged is durable there already, so leaving it needs no flush.
        Assert.False(result.FlushedOld);
        Assert.Equal(0, a.Export.Flushes);
        for (int i = 8; i < 16; i++)
        {
            await io.RunAsync($"write -P 0x{0x10 + i:x2} {i * 64}k 64k");
        }

        // Reads after the switch see the data written before it (now served by B) and after it.
        for (int i = 0; i < 16; i++)
        {
            await io.RunAsync($"read -P 0x{0x10 + i:x2} {i * 64}k 64k");
        }

        // qemu-io flushes when it quits: let it go while B still serves.
        await io.DisposeAsync();
        Assert.Equal(8, a.Export.Writes.Count);
        Assert.Equal(8, b.Export.Writes.Count);
        Assert.Equal(Enumerable.Range(8, 8).Select(i => (long)i * 65536), b.Export.Writes.Order());
        byte[] fileA = a.ReadFile();
        byte[] fileB = b.ReadFile();
        for (int i = 0; i < 16; i++)
        {
            Assert.All(fileB[(i * 65536)..((i + 1) * 65536)], x => Assert.Equal(0x10 + i, x));
            Assert.All(fileA[(i * 65536)..((i + 1) * 65536)], x => Assert.Equal(i < 8 ? 0x10 + i : 0, x));
        }
    }

    [Fact]
    public async Task Switch_FlushesTheOldUpstream_OnlyWhenAWriteWasAcknowledgedSinceItsLastFlush()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", 4 * MiB);
        await using var b = Upstream.Start(_dir.File("b.sock"), _dir.File("b.img"), "vol-b", 4 * MiB);
        await using var switcher = await StartSwitcherAsync(a);
        await using var client = await NbdClient.ConnectAsync(switcher.LocalEndPoint, switcher.ExportName);
        byte[] data = new byte[4096];
        Array.Fill(data, (byte)0x6b);

        // Written and flushed by the client (QEMU's 'stop' does this): the switch has nothing to make durable on A.
        await client.WriteAsync(0, data);
        await client.FlushAsync();
        var clean = await switcher.SwitchAsync(b.Target);
        Assert.False(clean.FlushedOld);
        Assert.Equal(1, a.Export.Flushes);
        Assert.All(a.ReadFile()[..4096], x => Assert.Equal(0x6b, x));

        // A write acknowledged with no flush after it: leaving B flushes it.
        await client.WriteAsync(8192, data);
        var dirty = await switcher.SwitchAsync(a.Target);
        Assert.True(dirty.FlushedOld);
        Assert.Equal(1, b.Export.Flushes);

        // A FUA write is durable when acknowledged; a trim without FUA is not.
        await client.WriteAsync(16384, data, fua: true);
        Assert.False((await switcher.SwitchAsync(b.Target)).FlushedOld);
        await client.TrimAsync(16384, 4096);
        Assert.True((await switcher.SwitchAsync(a.Target)).FlushedOld);
        Assert.Equal(2, b.Export.Flushes);
    }

    [Fact]
    public async Task Switch_WithRequestsInFlight_DrainsFirst_EachWriteRunsOnExactlyOneUpstream()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", 4 * MiB, writeDelay: TimeSpan.FromMilliseconds(20));
        await using var b = Upstream.Start(_dir.File("b.sock"), _dir.File("b.img"), "vol-b", 4 * MiB);
        await using var switcher = await StartSwitcherAsync(a);
        await using var client = await NbdClient.ConnectAsync(switcher.LocalEndPoint, switcher.ExportName);

        const int count = 200;
        byte[] data = new byte[4096];
        var writes = new List<Task>();
        for (int i = 0; i < count; i++)
        {
            writes.Add(client.WriteAsync((long)i * 4096, data).AsTask());
            if (i == count / 2)
            {
                var waited = System.Diagnostics.Stopwatch.StartNew();
                while (switcher.InFlight == 0)
                {
                    Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30), "no request ever reached the switcher");
                    await Task.Delay(1);
                }

                writes.Add(switcher.SwitchAsync(b.Target));
            }
        }

        await Task.WhenAll(writes);

        long[] onA = [.. a.Export.Writes];
        long[] onB = [.. b.Export.Writes];
        output.WriteLine($"{onA.Length} writes on A, {onB.Length} on B");
        Assert.NotEmpty(onA);
        Assert.NotEmpty(onB);
        Assert.Empty(onA.Intersect(onB));
        Assert.Equal(count, onA.Length + onB.Length);
        Assert.Equal(Enumerable.Range(0, count).Select(i => (long)i * 4096), onA.Concat(onB).Order());
        Assert.Equal(b.Target, switcher.Current);
    }

    [Fact]
    public async Task Switch_Refused_WhenSizeDiffers_StaysOnOldUpstream()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", 4 * MiB);
        await using var b = Upstream.Start(_dir.File("b.sock"), _dir.File("b.img"), "vol-b", 8 * MiB);
        await using var switcher = await StartSwitcherAsync(a);

        var e = await Assert.ThrowsAsync<PathSwitchException>(() => switcher.SwitchAsync(b.Target));
        Assert.Contains("size", e.Message);
        await AssertStillOnAsync(switcher, a, b);
    }

    [Fact]
    public async Task Switch_Refused_WhenNewUpstreamIsReadOnly_StaysOnOldUpstream()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", 4 * MiB);
        await using var b = Upstream.Start(_dir.File("b.sock"), _dir.File("b.img"), "vol-b", 4 * MiB, readOnly: true);
        await using var switcher = await StartSwitcherAsync(a);

        var e = await Assert.ThrowsAsync<PathSwitchException>(() => switcher.SwitchAsync(b.Target));
        Assert.Contains("read-only", e.Message);
        await AssertStillOnAsync(switcher, a, b);
    }

    [Fact]
    public async Task Switch_Refused_WhenExportDoesNotExist_StaysOnOldUpstream()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", 4 * MiB);
        await using var b = Upstream.Start(_dir.File("b.sock"), _dir.File("b.img"), "vol-b", 4 * MiB);
        await using var switcher = await StartSwitcherAsync(a);

        var e = await Assert.ThrowsAsync<PathSwitchException>(() => switcher.SwitchAsync(b.Target with { ExportName = "no-such-volume" }));
        Assert.Contains("no export named 'no-such-volume'", e.Message);
        await AssertStillOnAsync(switcher, a, b);
    }

    [Fact]
    public async Task Switch_Refused_WhenNewUpstreamUnreachable_StaysOnOldUpstream()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", 4 * MiB);
        await using var b = Upstream.Start(_dir.File("b.sock"), _dir.File("b.img"), "vol-b", 4 * MiB);
        await using var switcher = await StartSwitcherAsync(a);

        await Assert.ThrowsAsync<PathSwitchException>(() => switcher.SwitchAsync(new UnixDomainSocketEndPoint(_dir.File("nobody.sock")), "vol-b"));
        await AssertStillOnAsync(switcher, a, b);
    }

    private async Task AssertStillOnAsync(PathSwitcher switcher, Upstream a, Upstream b)
    {
        Assert.Equal(a.Target, switcher.Current);
        Assert.Null(switcher.Previous);
        await using var io = await QemuIoSession.StartAsync(LocalUrl(switcher));
        await io.RunAsync("write -P 0x77 0 4k");
        Assert.Single(a.Export.Writes);
        Assert.Empty(b.Export.Writes);
        Assert.All(a.ReadFile()[..4096], x => Assert.Equal(0x77, x));
    }

    [Fact]
    public async Task SwitchBack_ReturnsToTheFirstUpstream_AndRefusesWithoutASwitch()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", 4 * MiB);
        await using var b = Upstream.Start(_dir.File("b.sock"), _dir.File("b.img"), "vol-b", 4 * MiB);
        await using var switcher = await StartSwitcherAsync(a);
        await Assert.ThrowsAsync<InvalidOperationException>(() => switcher.SwitchBackAsync());

        await using var io = await QemuIoSession.StartAsync(LocalUrl(switcher));
        await io.RunAsync("write -P 0x01 0 4k");
        await switcher.SwitchAsync(b.Target);
        await io.RunAsync("write -P 0x02 4k 4k");
        var back = await switcher.SwitchBackAsync();
        await io.RunAsync("write -P 0x03 8k 4k");

        Assert.Equal(b.Target, back.From);
        Assert.Equal(a.Target, back.To);
        Assert.Equal(a.Target, switcher.Current);
        Assert.Equal(b.Target, switcher.Previous);
        Assert.Equal([0L, 8192L], a.Export.Writes.Order());
        Assert.Equal([4096L], b.Export.Writes);
        Assert.False(back.FlushedOld, "qemu-io's writes carry FUA: nothing on B waited for a flush");
    }

    [Fact]
    public async Task UpstreamLost_IsReported_RetriedAfterReconnect_RequestCompletes()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", 4 * MiB);
        var options = new PathSwitcherOptions { ReconnectInitialDelay = TimeSpan.FromMilliseconds(50), ReconnectMaxDelay = TimeSpan.FromMilliseconds(200), RequestRetryWindow = TimeSpan.FromSeconds(30) };
        await using var switcher = await StartSwitcherAsync(a, options);
        var events = new List<UpstreamEvent>();
        var restored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var failedTwice = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        switcher.UpstreamChanged += e =>
        {
            lock (events)
            {
                events.Add(e);
                if (e.Kind == UpstreamEventKind.ReconnectFailed && e.Attempt >= 2)
                {
                    failedTwice.TrySetResult();
                }
            }

            if (e.Kind == UpstreamEventKind.Restored)
            {
                restored.TrySetResult();
            }
        };

        await using var io = await QemuIoSession.StartAsync(LocalUrl(switcher));
        await io.RunAsync("write -P 0x31 0 4k");
        await a.StopAsync();

        var write = io.RunAsync("write -P 0x32 4k 4k");
        await failedTwice.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(write.IsCompleted, "the request waits for the upstream instead of failing at once");
        a.Restart();
        await restored.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await write.WaitAsync(TimeSpan.FromSeconds(30));
        await io.RunAsync("read -P 0x32 4k 4k");
        await io.RunAsync("read -P 0x31 0 4k");

        lock (events)
        {
            Assert.Equal(UpstreamEventKind.Lost, events[0].Kind);
            Assert.Equal(a.Target, events[0].Target);
            Assert.Equal(UpstreamEventKind.Restored, events[^1].Kind);
            Assert.Contains(events, e => e.Kind == UpstreamEventKind.ReconnectFailed && e.Error is PathSwitchException);
            Assert.Single(events, e => e.Kind == UpstreamEventKind.Lost);
        }

        Assert.Equal([4096L], a.Export.Writes);
        Assert.All(a.ReadFile()[4096..8192], x => Assert.Equal(0x32, x));
    }

    [Fact]
    public async Task UpstreamGone_RequestFailsWithIoErrorAfterRetryWindow_NotAHang()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", 4 * MiB);
        // Reconnect attempts stay well inside the retry window, so the request after the restart finds one.
        var options = new PathSwitcherOptions
        {
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(50), ReconnectMaxDelay = TimeSpan.FromMilliseconds(100),
            RequestRetryWindow = TimeSpan.FromSeconds(1),
        };
        await using var switcher = await StartSwitcherAsync(a, options);
        var lost = new TaskCompletionSource<UpstreamEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        switcher.UpstreamChanged += e =>
        {
            if (e.Kind == UpstreamEventKind.Lost)
            {
                lost.TrySetResult(e);
            }
        };

        await using var client = await NbdClient.ConnectAsync(switcher.LocalEndPoint, switcher.ExportName);
        await client.WriteAsync(0, new byte[4096]);
        await a.StopAsync();

        var e = await Assert.ThrowsAsync<NbdCommandException>(async () => await client.WriteAsync(4096, new byte[4096]).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(NbdError.IoError, e.Error);
        var reported = await lost.Task.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(a.Target, reported.Target);
        Assert.NotNull(reported.Error);

        // The local connection survives: once the upstream is back, requests work again.
        a.Restart();
        await client.WriteAsync(8192, new byte[4096]).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal([8192L], a.Export.Writes);
    }

    [Fact]
    public async Task Dispose_WhileARequestWaitsForALostUpstream_FailsIt_InsteadOfWaitingOutTheWindow()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", MiB);
        var options = new PathSwitcherOptions { RequestRetryWindow = TimeSpan.FromMinutes(10) };
        var switcher = await StartSwitcherAsync(a, options);
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        switcher.UpstreamChanged += e =>
        {
            lost.TrySetResult();
            throw new InvalidOperationException("a subscriber that fails must not break the switcher");
        };
        await using var client = await NbdClient.ConnectAsync(switcher.LocalEndPoint, switcher.ExportName);
        await a.StopAsync();

        var write = client.WriteAsync(0, new byte[4096]).AsTask();
        await lost.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await switcher.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        var e = await Assert.ThrowsAnyAsync<NbdException>(() => write.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.True(e is NbdCommandException { Error: NbdError.IoError or NbdError.Shutdown } or NbdConnectionException, e.ToString());
        Assert.False(File.Exists(_dir.File("local.sock")));
    }

    [Fact]
    public async Task Start_Fails_WhenUpstreamHasNoSuchExport()
    {
        await using var a = Upstream.Start(_dir.File("a.sock"), _dir.File("a.img"), "vol-a", MiB);
        var e = await Assert.ThrowsAsync<PathSwitchException>(() => PathSwitcher.StartAsync(
            new UnixDomainSocketEndPoint(_dir.File("local.sock")), a.Target with { ExportName = "missing" }, "vm-disk0"));
        Assert.Contains("missing", e.Message);
        Assert.False(File.Exists(_dir.File("local.sock")));
    }
}
