using System.Diagnostics;
using System.Globalization;
using Teleport.Host.Hypervisor;

namespace Teleport.Cli.Demo;

/// <summary>
/// The QEMU test guest as the demo's VM: Debian's kernel and a busybox initramfs whose <c>teleport-writer</c> writes
/// records 0..N-1 at N*4096 of its virtio disk, which is the host worker's path switcher (NBD over loopback). The host
/// worker controls it over the QMP socket <see cref="HostQmpSocket"/>; the demo keeps a second QMP socket of its own to
/// stop the guest at the end (QEMU's <c>stop</c> drains the disk I/O). The writer prints every record it wrote.
/// </summary>
public sealed class QemuGuest : IDemoVm
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromSeconds(120);

    private readonly GuestImage _image;
    private readonly string _disk;
    private readonly string _export;
    private readonly long _records;
    private readonly double _recordsPerSecond;
    private readonly string _demoQmpSocket;
    private Process? _process;
    private volatile string? _failure;
    private int _disposed;

    /// <summary>A guest whose console goes to <paramref name="log"/> (a new one when null); a whole-VM move adds the incoming QEMU's console to the same log.</summary>
    public QemuGuest(GuestImage image, string disk, string export, long records, double recordsPerSecond, ulong runId, string workDirectory,
        GuestLog? log = null)
    {
        Log = log ?? new GuestLog();
        _image = image;
        _disk = disk;
        _export = export;
        _records = records;
        _recordsPerSecond = recordsPerSecond;
        RunId = runId;
        HostQmpSocket = Path.Combine(workDirectory, "vm-1.qmp");
        _demoQmpSocket = Path.Combine(workDirectory, "vm-1-demo.qmp");
    }

    public string Kind => "qemu";

    public ulong RunId { get; }

    /// <summary>The QMP socket the host worker controls the VM through (HostVmOptions.QmpSocket).</summary>
    public string HostQmpSocket { get; }

    /// <summary>The guest's console: its records, their timing and, after a whole-VM move, whether it continued.</summary>
    public GuestLog Log { get; }

    /// <summary>The node name of the disk, which the virtio-blk device refers to (VmDefinition.DiskNodeName).</summary>
    public const string DiskNodeName = "disk0";

    /// <summary>
    /// The guest's machine and devices, without its disk backend and monitors: what a whole-VM move's VM definition
    /// holds, so the incoming QEMU is the same machine. Its serial console is QEMU's stdio, which a host worker logs.
    /// </summary>
    public IReadOnlyList<string> DefinitionArguments =>
    [
        // 256 MiB less 8 KiB: QEMU 7.2 under TCG loses guest stores during a memory migration when the RAM's size is a
        // multiple of 256 KiB (its fast dirty-bitmap path leaves TCG's TLB stale; fixed in QEMU 9.0); any other size takes
        // the per-page path, which is correct. See docs/host.md.
        "-machine", "q35", "-m", "262136k", "-smp", "1", "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio",
        "-accel", "tcg", "-cpu", "max", "-kernel", _image.Kernel, "-initrd", _image.Initrd,
        "-append", string.Create(CultureInfo.InvariantCulture,
            $"console=ttyS0 panic=-1 no_timer_check quiet loglevel=4 guest.count={_records} guest.every=1 guest.run={RunId} guest.delay={(long)(1_000_000 / _recordsPerSecond)} guest.hold=3600"),
        "-device", $"virtio-blk-pci,drive={DiskNodeName}",
    ];

    public long RecordsWritten => Log.RecordsWritten;

    public bool ExactCount => false;

    /// <summary>True once the QEMU process has exited (after a whole-VM move the source quits by design).</summary>
    public bool Exited => _process is { HasExited: true };

    public TimeSpan LongestGap => Log.LongestGap;

    public string? Failure => _failure ?? Log.Failure;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var (host, port) = SplitHostPort(_disk);
        var start = new ProcessStartInfo(_image.Qemu)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in DefinitionArguments.Concat(
                 [
                     "-blockdev", $"driver=nbd,server.type=inet,server.host={host},server.port={port},export={_export},node-name={DiskNodeName},cache.direct=on",
                     "-qmp", $"unix:{HostQmpSocket},server=on,wait=off",
                     "-qmp", $"unix:{_demoQmpSocket},server=on,wait=off",
                 ]))
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException($"{_image.Qemu} did not start");
        _process.OutputDataReceived += (_, e) => Log.OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => Log.OnLine(e.Data);
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
            throw new InvalidOperationException($"the QEMU guest did not start writing: {Failure}\n{Tail(Log.Console)}");
    }

    public async Task WaitForRecordsAsync(long records, CancellationToken cancellationToken)
    {
        while (RecordsWritten < records && !Log.Done && Failure is null)
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
