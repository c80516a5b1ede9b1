using System.Net;
using Teleport.Blocks;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Server;

namespace Teleport.Nbd.Tests.Support;

/// <summary>Our NBD server on 127.0.0.1 with an ephemeral port and file exports in a temporary directory.</summary>
internal sealed class ServerHarness : IAsyncDisposable
{
    private readonly List<FileNbdExport> _exports = [];

    private ServerHarness(NbdServerOptions? options)
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("teleport-nbd-").FullName;
        Server = new NbdServer(Registry, options);
        EndPoint = (IPEndPoint)Server.Listen(new IPEndPoint(IPAddress.Loopback, 0));
    }

    public string Directory { get; }

    public NbdExportRegistry Registry { get; } = new();

    public NbdServer Server { get; }

    public IPEndPoint EndPoint { get; }

    public static ServerHarness Start(NbdServerOptions? options = null) => new(options);

    public string Url(string export) => $"nbd://127.0.0.1:{EndPoint.Port}/{export}";

    /// <summary>Creates a backing file of <paramref name="size"/> bytes (optionally filled) and exports it.</summary>
    public FileNbdExport AddExport(string name, long size, bool readOnly = false, IDirtyTracker? tracker = null, Func<long, byte>? fill = null)
    {
        string path = PathOf(name);
        using (var file = new FileStream(path, FileMode.Create, FileAccess.Write))
        {
            file.SetLength(size);
            if (fill is not null)
            {
                byte[] bytes = new byte[size];
                for (long i = 0; i < size; i++)
                {
                    bytes[i] = fill(i);
                }

                file.Write(bytes);
            }
        }

        var export = new FileNbdExport(name, path, readOnly, tracker, $"test export {name}");
        _exports.Add(export);
        Registry.Add(export);
        return export;
    }

    public string PathOf(string name) => Path.Combine(Directory, name + ".img");

    public byte[] ReadBacking(string name) => File.ReadAllBytes(PathOf(name));

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        foreach (var export in _exports)
        {
            export.Dispose();
        }

        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
