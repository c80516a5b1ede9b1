// Serves one file over NBD for the benchmark script: NbdBenchServer FILE PORT EXPORT [--dirty].
// Runs until stdin closes.
using System.Net;
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
await using var server = new NbdServer(registry);
server.Listen(new IPEndPoint(IPAddress.Loopback, int.Parse(args[1])));
Console.WriteLine("listening");
await Console.In.ReadToEndAsync();
Console.WriteLine($"dirty blocks: {bitmap?.DirtyCount ?? -1}");
return 0;
