using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Teleport.Contracts;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Server;

namespace Teleport.Host.Worker;

/// <summary>
/// Runs the host's fenced cut-over once, when the worker starts, on parts of its own: a private host worker node (no bus:
/// nothing is published) whose one VM is a scripted QMP peer on a private socket, its disk path between two private
/// 1 MiB exports in a temporary directory, served on loopback. The code is the same a real cut-over runs (LocalCutOver,
/// HostOperations, PathSwitcher, QmpHypervisor, their logs), so the methods ReadyToRun left to the JIT are compiled here
/// and not inside a real VM's first pause (measured: 114-194 methods, 15-209 ms of JIT in a fresh host's pause).
/// It shares nothing with the real VMs (no lock, no switcher, no QMP socket, no export), so a migration arriving
/// meanwhile does not wait for it; a failure is logged and changes nothing.
/// </summary>
internal static class CutOverRehearsal
{
    private const string VmId = "rehearsal";
    private const long VolumeBytes = 1024 * 1024;

    /// <summary>Rehearses; returns what happened (never throws but for <paramref name="cancellationToken"/>).</summary>
    public static async Task<RehearsalOutcome> RunAsync(HostWorkerOptions real, ILoggerFactory loggers, RehearsalScript script, CancellationToken cancellationToken)
    {
        var log = loggers.CreateLogger(typeof(CutOverRehearsal));
        var took = Stopwatch.StartNew();
        long jitBefore = System.Runtime.JitInfo.GetCompiledMethodCount();
        var dir = Directory.CreateTempSubdirectory("teleport-rehearsal-");
        RehearsalOutcome outcome;
        try
        {
            string? failure = await RehearseInAsync(dir.FullName, real, loggers, script, cancellationToken).ConfigureAwait(false);
            outcome = new RehearsalOutcome(failure is null, failure, System.Runtime.JitInfo.GetCompiledMethodCount() - jitBefore, took.Elapsed);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            outcome = new RehearsalOutcome(false, e.Message, System.Runtime.JitInfo.GetCompiledMethodCount() - jitBefore, took.Elapsed);
        }
        finally
        {
            TryDelete(dir);
        }

        if (outcome.Succeeded)
            HostWorkerLog.Rehearsed(log, outcome.JitMethods, outcome.Took.TotalMilliseconds);
        else
            HostWorkerLog.RehearsalFailed(log, outcome.Failure ?? "", outcome.Took.TotalMilliseconds);
        return outcome;
    }

    // Null when the cut-over ran through: paused, switched to the second export and resumed.
    private static async Task<string?> RehearseInAsync(string dir, HostWorkerOptions real, ILoggerFactory loggers, RehearsalScript script, CancellationToken cancellationToken)
    {
        HostWorkerMetrics.MuteThisFlow();
        var registry = new NbdExportRegistry();
        foreach (string name in (string[])["a", "b"])
        {
            string path = Path.Combine(dir, name + ".img");
            using (var file = File.Create(path))
                file.SetLength(VolumeBytes);
            registry.Add(new FileNbdExport(name, path));
        }

        await using var storage = new NbdServer(registry);
        var endpoint = (IPEndPoint)storage.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        await using var qmp = new RehearsalQmpPeer(Path.Combine(dir, "qmp.sock"), script);
        var options = Options(real, dir, qmp.SocketPath, endpoint.ToString());
        await using var node = new HostWorkerNode(options, new ServiceCollection().BuildServiceProvider(), loggers, TimeProvider.System);
        await node.StartAsync(cancellationToken).ConfigureAwait(false);
        var vm = node.Vms[VmId];
        var id = Guid.NewGuid();
        object? answer = await node.CutOver.RunAsync(new PauseVm(id, VmId, options.HostId, 1, "b", null, "b", 60_000, "b"), cancellationToken).ConfigureAwait(false);
        if (answer is not null)
            return $"the cut-over answered {answer}";
        return vm.LastResume?.Key == new OperationKey(id, 1) && vm.CurrentStorageId == "b" ? null : "the VM was not switched and resumed";
    }

    // The real host's settings that shape the cut-over's code path, none of its VMs, storages, TLS or bus.
    private static HostWorkerOptions Options(HostWorkerOptions real, string dir, string qmpSocket, string nbd) =>
        new HostWorkerOptions
        {
            HostId = VmId,
            Rehearse = false,
            SwitchRetryWindow = TimeSpan.FromSeconds(2),
            QmpCommandTimeout = real.QmpCommandTimeout,
            NbdMemoryBudget = real.NbdMemoryBudget,
            StateDirectory = dir,
        }
        .AddVm(VmId, new HostVmOptions { QmpSocket = qmpSocket, DiskListen = $"unix:{Path.Combine(dir, "disk.sock")}", StorageId = "a", Upstream = nbd, Export = "a" })
        .AddStorage("b", nbd);

    private static void TryDelete(DirectoryInfo dir)
    {
        try
        {
            dir.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A temporary directory left behind costs nothing.
        }
    }
}
