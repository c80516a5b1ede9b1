// Serves one file over NBD for bench/run.sh: NbdBenchServer FILE PORT EXPORT [--dirty].
// Runs until SIGTERM/SIGINT, then prints what it measured.
using System.Net;
using System.Runtime.InteropServices;
using Teleport.Blocks;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Server;

if (args.Length < 3)
{
    Console.Error.WriteLine("usage: NbdBenchServer FILE PORT EXPORT [--dirty]");
    return 2;
}

long size = new FileInfo(args[0]).Length;
DirtyBitmap? bitmap = args.Contains("--dirty") ? new DirtyBitmap((size + 4095) / 4096, 4096) : null;
using var export = new FileNbdExport(args[2], args[0], dirtyTracker: bitmap);
var registry = new NbdExportRegistry();
registry.Add(export);
var stop = new TaskCompletionSource();
using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.TrySetResult(); });
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.TrySetResult(); });
await using (var server = new NbdServer(registry))
{
    server.Listen(new IPEndPoint(IPAddress.Loopback, int.Parse(args[1])));
    Console.WriteLine("listening");
    long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
    await stop.Task;
    Console.WriteLine($"allocated bytes: {GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore}");
}

Console.WriteLine($"dirty blocks: {bitmap?.DirtyCount ?? -1}");
return 0;
