using System.Diagnostics;
using System.Globalization;
using System.Text;
using Teleport.Host.Hypervisor;

namespace Teleport.Cli.Demo;

/// <summary>
/// The QEMU test guest as the demo's VM: Debian's kernel and a busybox initramfs whose <c>teleport-writer</c> writes
/// records 0..N-1 at N*4096 of its virtio disk, which is the host worker's path switcher (NBD over loopback). The host
/// worker controls it over the QMP socket <see cref="HostQmpSocket"/>; the demo keeps a second QMP socket of its own to
/// stop the guest at the end (QEMU's <c>stop</c> drains the disk I/O). The writer prints every record it wrote.
/// </summary>
public sealed class QemuGuest(GuestImage image, string disk, string export, long records, double recordsPerSecond, ulong runId, string workDirectory)
    : IDemoVm
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(120);

    private readonly string _demoQmpSocket = Path.Combine(workDirectory, "vm-1-demo.qmp");
    private readonly StringBuilder _console = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private Process? _process;
    private long _reported;
    private long _longestGapTicks;
    private long _lastReportTicks = -1;
    private volatile string? _failure;
    private volatile bool _done;
    private int _disposed;

    public string Kind => "qemu";

    public ulong RunId { get; } = runId;

    /// <summary>The QMP socket the host worker controls the VM through (HostVmOptions.QmpSocket).</summary>
    public string HostQmpSocket { get; } = Path.Combine(workDirectory, "vm-1.qmp");

    public long RecordsWritten => Interlocked.Read(ref _reported);

    public bool ExactCount => false;

    public TimeSpan LongestGap => TimeSpan.FromTicks(Interlocked.Read(ref _longestGapTicks));

    public string? Failure => _failure;

    /// <summary>The guest's serial console so far (for errors).</summary>
    public string Console
    {
        get
        {
            lock (_console)
                return _console.ToString();
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var (host, port) = SplitHostPort(disk);
        long delayMicroseconds = (long)(1_000_000 / recordsPerSecond);
        var start = new ProcessStartInfo(image.Qemu)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in new[]
                 {
                     "-machine", "q35", "-m", "256", "-smp", "1", "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
                     "-accel", "tcg", "-cpu", "max", "-kernel", image.Kernel, "-initrd", image.Initrd,
                     "-append", string.Create(CultureInfo.InvariantCulture,
                         $"console=ttyS0 panic=-1 quiet loglevel=4 guest.count={records} guest.every=1 guest.run={RunId} guest.delay={delayMicroseconds} guest.hold=3600"),
                     "-drive", $"driver=nbd,server.type=inet,server.host={host},server.port={port},export={export},if=none,id=d0,cache.direct=on",
                     "-device", "virtio-blk-pci,drive=d0",
                     "-qmp", $"unix:{HostQmpSocket},server=on,wait=off",
                     "-qmp", $"unix:{_demoQmpSocket},server=on,wait=off",
                 })
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException($"{image.Qemu} did not start");
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        // Booting under software emulation takes a few seconds; the first record says the workload runs.
        using var boot = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        boot.CancelAfter(BootTimeout);
        try
        {
            await WaitForRecordsAsync(1, boot.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            _failure ??= $"the guest wrote nothing within {BootTimeout.TotalSeconds:0} s";
        }

        if (RecordsWritten == 0)
            throw new InvalidOperationException($"the QEMU guest did not start writing: {_failure}\n{Tail(Console)}");
    }

    public async Task WaitForRecordsAsync(long records, CancellationToken cancellationToken)
    {
        while (RecordsWritten < records && !_done && _failure is null)
        {
            if (_process is { HasExited: true } exited)
            {
                _failure ??= $"QEMU exited with status {exited.ExitCode}";
                return;
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<long> StopAsync()
    {
        if (_process is { HasExited: false } process)
        {
            try
            {
                // Stop drains the guest's disk I/O: whatever it wrote is on the volume before QEMU goes.
                await using var qmp = await QmpHypervisor.ConnectAsync(_demoQmpSocket).ConfigureAwait(false);
                await qmp.PauseAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is QmpConnectionException or QmpException or TimeoutException or InvalidOperationException or IOException)
            {
                _failure ??= $"the guest could not be stopped cleanly: {e.Message}";
            }

            process.Kill();
            await process.WaitForExitAsync().ConfigureAwait(false);
        }

        return RecordsWritten;
    }

    private void OnLine(string? line)
    {
        if (line is null)
            return;
        lock (_console)
            _console.AppendLine(line);
        if (line.StartsWith("TPW seq=", StringComparison.Ordinal)
            && long.TryParse(line.AsSpan("TPW seq=".Length), NumberStyles.None, CultureInfo.InvariantCulture, out long sequence))
        {
            long now = _clock.Elapsed.Ticks;
            long last = Interlocked.Exchange(ref _lastReportTicks, now);
            if (last >= 0 && now - last > Interlocked.Read(ref _longestGapTicks))
                Interlocked.Exchange(ref _longestGapTicks, now - last);
            Interlocked.Exchange(ref _reported, sequence + 1);
        }
        else if (line.StartsWith("TPW done", StringComparison.Ordinal))
        {
            _done = true;
        }
        else if (line.StartsWith("TPW error", StringComparison.Ordinal) || line.Contains("I/O error", StringComparison.Ordinal)
                 || line.StartsWith("TPW exit", StringComparison.Ordinal) && line.Trim() != "TPW exit 0")
        {
            _failure ??= line.Trim();
        }
    }

    private static (string Host, string Port) SplitHostPort(string endpoint)
    {
        int colon = endpoint.LastIndexOf(':');
        return (endpoint[..colon], endpoint[(colon + 1)..]);
    }

    private static string Tail(string text) => text.Length <= 2000 ? text : text[^2000..];

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync().ConfigureAwait(false);
        }

        _process?.Dispose();
    }
}
