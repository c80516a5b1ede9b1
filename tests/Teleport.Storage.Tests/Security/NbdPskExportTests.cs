using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Nbd.Client;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Tls;
using Teleport.Storage.Volumes;
using Teleport.Storage.Worker;

namespace Teleport.Storage.Tests.Security;

/// <summary>The storage worker's NBD over TLS-PSK (Storage:NbdPskFile): the PSK identity is the host id the grants name.</summary>
public sealed class NbdPskExportTests : IDisposable
{
    private readonly TempDir _dir = new();

    [Fact]
    public async Task A_granted_psk_identity_opens_its_volume_another_identity_and_a_wrong_key_do_not()
    {
        string keys = _dir.File("keys.psk");
        File.WriteAllLines(keys, ["host-a:" + new string('a', 64), "host-b:" + new string('b', 64)]);
        string wrong = _dir.File("wrong.psk");
        File.WriteAllLines(wrong, ["host-a:" + new string('c', 64)]);
        var options = new StorageWorkerOptions
        {
            StorageId = "dst-1", VolumeDirectory = _dir.File("volumes"), NbdListen = "127.0.0.1:0", DataListen = "127.0.0.1:0",
            DataChannelTls = false, NbdPskFile = keys, ExportClients = new() { ["vol1"] = ["host-a"] },
        };
        options.Validate();
        var store = new VolumeStore(options.VolumeDirectory);
        store.Create("vol1", 1024 * 1024);
        await using var exports = new NbdExportService(options, store, new VolumeTrackers(), NullLoggerFactory.Instance);
        await exports.StartAsync(CancellationToken.None);
        var endPoint = exports.EndPoint!;

        await using (var client = await NbdClient.ConnectAsync(endPoint, "vol1", Psk(keys, "host-a")))
        {
            await client.WriteAsync(0, "teleport"u8.ToArray(), fua: true);
        }

        var otherHost = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(endPoint, "vol1", Psk(keys, "host-b")));
        await Assert.ThrowsAsync<NbdConnectionException>(() => NbdClient.ConnectAsync(endPoint, "vol1", Psk(wrong, "host-a")));
        var plain = await Assert.ThrowsAsync<NbdOptionException>(() => NbdClient.ConnectAsync(endPoint, "vol1"));
        await exports.StopAsync(CancellationToken.None);

        Assert.Equal(NbdOptionReplyType.ErrorUnknown, otherHost.Reply);
        Assert.Equal(NbdOptionReplyType.ErrorTlsRequired, plain.Reply);
        Assert.Equal("teleport"u8.ToArray(), File.ReadAllBytes(Path.Combine(options.VolumeDirectory, "vol1.img"))[..8]);
    }

    public void Dispose() => _dir.Dispose();

    private static NbdClientOptions Psk(string file, string identity) => new() { Tls = NbdPskCredentials.ForClient(file, identity) };
}
