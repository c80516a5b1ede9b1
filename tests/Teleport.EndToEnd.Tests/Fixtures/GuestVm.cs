using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Teleport.EndToEnd.Tests.Fixtures;

/// <summary>
/// The workload guest (Debian kernel, busybox initramfs, teleport-writer; TCG) with its virtio disk on an NBD
/// endpoint (the host worker's path switcher) and a QMP socket. Its serial console is kept for assertions.
/// </summary>
public sealed partial class GuestVm : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _console = new();

    private GuestVm(Process process, string qmpSocket, GuestWorkload workload)
    {
        _process = process;
        QmpSocket = qmpSocket;
        Workload = workload;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string QmpSocket { get; }

    public GuestWorkload Workload { get; }

    public bool HasExited => _process.HasExited;

    public string Console
    {
        get
        {
            lock (_console)
                return _console.ToString();
        }
    }

    /// <summary>The last record the guest reported writing (-1 before the first progress line).</summary>
    public long LastProgress
    {
        get
        {
            long last = -1;
            foreach (Match m in ProgressLine().Matches(Console))
                last = long.Parse(m.Groups[1].Value);
            return last;
        }
    }

    /// <summary>Boots the guest; its disk is export <paramref name="export"/> at the Unix socket <paramref name="diskSocket"/>.</summary>
    public static async Task<GuestVm> StartAsync(string qmpSocket, string diskSocket, string export, GuestWorkload workload)
    {
        var start = new ProcessStartInfo(TestEnvironment.QemuSystem)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        string append = $"console=ttyS0 panic=-1 quiet loglevel=4 guest.count={workload.Records} guest.every={workload.ProgressEvery} " +
            $"guest.run={workload.Run} guest.delay={workload.DelayMicroseconds} guest.hold={workload.HoldSeconds}";
        foreach (string argument in new[]
                 {
                     "-machine", "q35", "-m", "256", "-smp", "1", "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
                     "-accel", "tcg", "-cpu", "max", "-kernel", TestEnvironment.GuestKernel, "-initrd", TestEnvironment.GuestInitrd,
                     "-append", append,
                     "-drive", $"driver=nbd,server.type=unix,server.path={diskSocket},export={export},if=none,id=d0,cache.direct=on",
                     "-device", "virtio-blk-pci,drive=d0",
                     "-qmp", $"unix:{qmpSocket},server=on,wait=off",
                 })
        {
            start.ArgumentList.Add(argument);
        }

        var vm = new GuestVm(Process.Start(start) ?? throw new InvalidOperationException("qemu-system-x86_64 did not start"), qmpSocket, workload);
        var waited = Stopwatch.StartNew();
        // The socket file exists from bind(), a moment before QEMU listens: wait until a connection is accepted.
        while (!await AcceptsConnectionsAsync(qmpSocket))
        {
            if (vm.HasExited || waited.Elapsed > TimeSpan.FromSeconds(30))
            {
                string output = vm.Console;
                await vm.DisposeAsync();
                throw new InvalidOperationException($"QEMU did not open its QMP socket: {output}");
            }

            await Task.Delay(20);
        }

        return vm;
    }

    /// <summary>Waits for <paramref name="condition"/>; fails with the console when it does not come or the guest stops first.</summary>
    public async Task WaitForAsync(Func<GuestVm, bool> condition, TimeSpan timeout, string what)
    {
        var waited = Stopwatch.StartNew();
        while (!condition(this))
        {
            if (waited.Elapsed > timeout || (HasExited && !condition(this)))
                throw new TimeoutException($"Gave up waiting for {what}; guest console:\n{Console}");
            await Task.Delay(50);
        }
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_console)
            _console.AppendLine(line);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"TPW seq=(\d+)")]
    private static partial Regex ProgressLine();

    private static async Task<bool> AcceptsConnectionsAsync(string socketPath)
    {
        if (!File.Exists(socketPath))
            return false;
        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        try
        {
            await probe.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath));
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }
}
