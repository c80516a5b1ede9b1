using System.Net;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Host.Hypervisor;
using Teleport.Host.Switching;
using Teleport.Nbd.Client;
using Teleport.Nbd.Server;

namespace Teleport.Host.Worker;

/// <summary>
/// One VM of the host worker at run time: its hypervisor (QMP, connected on first use and again after QEMU went
/// away, or the one the caller supplied), its path switcher, and what the last operations did so a repeated
/// command is answered the same way. Operations on one VM run one at a time (<see cref="LockAsync"/>).
/// </summary>
public sealed class HostVm(string id, HostVmOptions options, HostWorkerOptions worker, ILoggerFactory loggers) : IAsyncDisposable
{
    private readonly ILogger _log = loggers.CreateLogger<HostVm>();
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly Lock _pendingLock = new();
    private readonly Dictionary<OperationKey, PendingSwitch> _pendingSwitches = [];
    private int _joinedSwitches;
    private readonly CancellationTokenSource _stopping = new();
    private IHypervisor? _qmp;
    private PathSwitcher? _switcher;
    private Task? _starting;

    public string Id { get; } = id;

    public HostVmOptions Options { get; } = options;

    /// <summary>The path switcher once it runs (null while its first upstream could not be reached).</summary>
    public PathSwitcher? Switcher => Volatile.Read(ref _switcher);

    /// <summary>Why the path switcher is not running, while it is not.</summary>
    public string? StartError { get; private set; }

    /// <summary>The storage worker the disk path leads to now.</summary>
    public string CurrentStorageId { get; internal set; } = options.StorageId;

    /// <summary>Raised when the path switcher reports an upstream lost, a failed reconnect or a restoration.</summary>
    public event Action<HostVm, UpstreamEvent>? UpstreamChanged;

    // What the last operations did (guarded by the VM lock).
    internal (OperationKey Key, DateTimeOffset At)? LastPause { get; set; }

    internal (OperationKey Key, DateTimeOffset At)? LastResume { get; set; }

    internal (OperationKey Key, UpstreamTarget Target, DateTimeOffset At)? LastSwitch { get; set; }

    internal (OperationKey Key, DateTimeOffset At)? LastSwitchBack { get; set; }

    /// <summary>Set while this VM is an incoming VM of a whole-VM move (the QEMU this host started, its relay).</summary>
    internal Moves.IncomingVm? Incoming { get; set; }

    /// <summary>
    /// An incoming VM that has never run on this host: its 'cont' has not succeeded (even if its disk path was already
    /// attached, e.g. its QEMU died before the resume), so a rollback or a later attempt may discard it.
    /// </summary>
    internal bool NeverResumedIncoming => Incoming is not null && LastResume is null;

    /// <summary>This VM's outgoing memory migration, the last one started.</summary>
    internal Moves.MemoryMigration? Outgoing { get; set; }

    /// <summary>Per migration attempt: where the path led before its first switch (what SwitchBack returns to).</summary>
    internal Dictionary<OperationKey, (UpstreamTarget Target, string StorageId)> Origins { get; } = [];

    /// <summary>Starts the path switcher; when the upstream is unreachable, keeps trying in the background.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (await TryStartSwitcherAsync(cancellationToken).ConfigureAwait(false))
            return;
        _starting = Task.Run(() => KeepStartingAsync(_stopping.Token), CancellationToken.None);
    }

    private async Task KeepStartingAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(worker.StartRetryInterval, stopping).ConfigureAwait(false);
                if (await TryStartSwitcherAsync(stopping).ConfigureAwait(false))
                    return;
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task<bool> TryStartSwitcherAsync(CancellationToken cancellationToken)
    {
        try
        {
            var listen = await NbdAddress.Parse(Options.DiskListen, "DiskListen").ResolveAsync(cancellationToken).ConfigureAwait(false);
            var upstream = await NbdAddress.Parse(Options.Upstream, "Upstream").ResolveAsync(cancellationToken).ConfigureAwait(false);
            RemoveStaleSocket(Options.DiskListen);
            var switcher = await PathSwitcher.StartAsync(listen, new UpstreamTarget(upstream, Options.Export), Options.Export,
                SwitcherOptions(), loggers, cancellationToken).ConfigureAwait(false);
            switcher.UpstreamChanged += e => UpstreamChanged?.Invoke(this, e);
            Volatile.Write(ref _switcher, switcher);
            StartError = null;
            HostWorkerLog.DiskPathReady(_log, Id, switcher.LocalEndPoint, Options.Upstream, Options.Export);
            return true;
        }
        catch (Exception e) when (e is PathSwitchException or System.Net.Sockets.SocketException or IOException or ArgumentException)
        {
            StartError = e.Message;
            HostWorkerLog.DiskPathNotReady(_log, Id, e.Message);
            return false;
        }
    }

    // With TLS credentials every upstream connection (the first, reconnects, switch targets) starts TLS with them.
    private PathSwitcherOptions SwitcherOptions() => new()
    {
        Client = new NbdClientOptions { ExportWait = PathSwitcherOptions.DefaultExportWait, Tls = worker.UpstreamTls() },
        Server = new NbdServerOptions { MemoryBudget = worker.NbdMemoryBudget },
    };

    // A socket file left by an earlier run makes the bind fail. Only a socket nobody listens on is removed:
    // open(2) fails on a socket (a regular file opens and is left alone), connect(2) is refused when it is stale.
    private static void RemoveStaleSocket(string listen)
    {
        if (!listen.StartsWith("unix:", StringComparison.Ordinal))
            return;
        string path = listen["unix:".Length..];
        if (!File.Exists(path))
            return;
        try
        {
            using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            return;
        }
        catch (IOException)
        {
        }

        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        try
        {
            probe.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
        }
        catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.ConnectionRefused)
        {
            File.Delete(path);
        }
    }

    /// <summary>The switcher, or an error naming why the disk path is not up.</summary>
    public PathSwitcher RequireSwitcher() =>
        Switcher ?? throw new HostOperationException($"the disk path of VM '{Id}' is not up: {StartError ?? "starting"}");

    /// <summary>The VM's hypervisor, connecting to QMP on first use.</summary>
    public async Task<IHypervisor> HypervisorAsync(CancellationToken cancellationToken)
    {
        if (Options.Hypervisor is { } supplied)
            return supplied;
        if (_qmp is { } connected)
            return connected;
        _qmp = await QmpHypervisor.ConnectAsync(Options.QmpSocket!, new QmpOptions { CommandTimeout = worker.QmpCommandTimeout }, cancellationToken)
            .ConfigureAwait(false);
        return _qmp;
    }

    /// <summary>Drops a QMP connection that failed (QEMU exited or restarted); the next operation connects again.</summary>
    public async Task ForgetHypervisorAsync()
    {
        if (_qmp is { } qmp)
        {
            _qmp = null;
            await qmp.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Asks QEMU for the VM's run state (what the worker's readiness checks): on the open QMP connection, or on a new one
    /// when no operation holds the VM (QEMU takes one QMP client at a time, so the probe never opens a second). Null
    /// while an operation holds the VM before its connection is open; throws when QEMU does not answer, and then drops
    /// the failed connection if it can, so the next probe connects again.
    /// </summary>
    public async Task<VmStatus?> ProbeAsync(CancellationToken cancellationToken)
    {
        var hypervisor = Options.Hypervisor ?? _qmp;
        bool locked = hypervisor is null && await _lock.WaitAsync(0, cancellationToken).ConfigureAwait(false);
        try
        {
            if (hypervisor is null && !locked)
                return null;
            hypervisor ??= await HypervisorAsync(cancellationToken).ConfigureAwait(false);
            return await hypervisor.QueryStatusAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (QmpConnectionException) when (locked || _lock.Wait(0))
        {
            locked = true;
            await ForgetHypervisorAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            if (locked)
                _lock.Release();
        }
    }

    /// <summary>Runs operations on this VM one at a time.</summary>
    public async Task<IDisposable> LockAsync(CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Releaser(_lock);
    }

    /// <summary>
    /// Registers a SwitchTarget about to run, so a SwitchBack of the same attempt can stop its retries. A duplicate of a
    /// switch still pending (the saga re-sent it) joins that one: <paramref name="joined"/> is then true and the pending
    /// switch is returned, neither cancelled nor restarted (its retry window keeps running). A different SwitchTarget of
    /// the same attempt (or any, when <paramref name="mayJoin"/> is false) replaces the pending one.
    /// </summary>
    internal PendingSwitch BeginSwitch(OperationKey key, SwitchTarget command, CancellationToken cancellationToken, out bool joined, bool mayJoin = true)
    {
        lock (_pendingLock)
        {
            if (_pendingSwitches.TryGetValue(key, out var earlier))
            {
                if (mayJoin && earlier.Command == command && !earlier.Cancellation.IsCancellationRequested)
                {
                    _joinedSwitches++;
                    joined = true;
                    return earlier;
                }

                _pendingSwitches.Remove(key);
                earlier.Cancellation.Cancel();
            }

            var pending = new PendingSwitch(command, CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token));
            _pendingSwitches[key] = pending;
            joined = false;
            return pending;
        }
    }

    /// <summary>The switch is over: removed from the pending ones, and its duplicates learn the answer.</summary>
    internal void EndSwitch(OperationKey key, PendingSwitch pending, object? answer)
    {
        lock (_pendingLock)
        {
            if (_pendingSwitches.TryGetValue(key, out var current) && ReferenceEquals(current, pending))
                _pendingSwitches.Remove(key);
        }

        pending.Complete(answer);
        pending.Cancellation.Dispose();
    }

    /// <summary>Duplicates of a pending SwitchTarget that joined it (since the worker started).</summary>
    internal int JoinedSwitches
    {
        get
        {
            lock (_pendingLock)
                return _joinedSwitches;
        }
    }

    /// <summary>SwitchTarget operations running or waiting on this VM.</summary>
    internal int PendingSwitches
    {
        get
        {
            lock (_pendingLock)
                return _pendingSwitches.Count;
        }
    }

    /// <summary>Stops a SwitchTarget of this attempt that is still trying; true if there was one.</summary>
    internal bool CancelSwitch(OperationKey key)
    {
        lock (_pendingLock)
        {
            if (!_pendingSwitches.Remove(key, out var pending))
                return false;
            pending.Cancellation.Cancel();
            return true;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_starting is not null)
            await _starting.ConfigureAwait(false);
        if (Switcher is { } switcher)
            await switcher.DisposeAsync().ConfigureAwait(false);
        await ForgetHypervisorAsync().ConfigureAwait(false);
        if (Incoming is { } incoming)
            await incoming.DisposeAsync().ConfigureAwait(false);
        if (Outgoing is { } outgoing)
            await outgoing.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class Releaser(SemaphoreSlim semaphore) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
                semaphore.Release();
        }
    }
}
