using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Teleport.Blocks;
using Teleport.Transfer.Buddies;

namespace Teleport.Transfer.Tests.Buddies;

/// <summary>
/// One site of two storage workers on loopback: a buddy ("storage-b2") whose index holds a base image, served by a real
/// <see cref="BuddyServer"/> over mutual TLS, and a migration whose source volume is that base with some blocks changed.
/// </summary>
public sealed class BuddyRig : IAsyncDisposable
{
    public const string DestinationId = "storage-b1";
    public const string BuddyId = "storage-b2";

    private BuddyServer? _server;

    /// <summary><paramref name="changed"/> of the <paramref name="blocks"/> random base blocks differ in the source volume (the first ones).</summary>
    public BuddyRig(int blocks, int changed)
    {
        Base = RandomNumberGenerator.GetBytes(blocks * VolumeBuilder.BlockSize);
        byte[] source = (byte[])Base.Clone();
        RandomNumberGenerator.Fill(source.AsSpan(0, changed * VolumeBuilder.BlockSize));
        Migration = new Migration(source);
        BasePath = Migration.Dir.File("base.img");
        File.WriteAllBytes(BasePath, Base);
        BuddyIndex = BlockIndex.Open(Migration.Dir.File("buddy-index"));
        BuddyIndex.Update([BasePath]);
        DestinationCertificate = Authority.Issue(DestinationId);
        BuddyCertificate = Authority.Issue(BuddyId);
    }

    public TestAuthority Authority { get; } = new();

    public CapturedLogs Logs { get; } = new();

    public Migration Migration { get; }

    public byte[] Base { get; }

    public string BasePath { get; }

    public BlockIndex BuddyIndex { get; }

    public X509Certificate2 DestinationCertificate { get; }

    public X509Certificate2 BuddyCertificate { get; }

    public BuddyServer Server => _server ?? throw new InvalidOperationException("start the buddy first");

    /// <summary>Starts the buddy's server, answering <see cref="DestinationId"/>; returns its endpoint.</summary>
    public IPEndPoint StartBuddy(Func<BuddyServerOptions, BuddyServerOptions>? tweak = null)
    {
        var options = new BuddyServerOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Index = BuddyIndex,
            Tls = new TransferTls { Certificate = BuddyCertificate, TrustedAuthorities = Authority.Trust },
            Buddies = [DestinationId],
        };
        _server = new BuddyServer(tweak is null ? options : tweak(options), Logs.CreateLogger("buddy"));
        return _server.Start();
    }

    /// <summary>The destination's buddy configuration: one buddy at <paramref name="endPoint"/>.</summary>
    public BuddyOptions Buddies(IPEndPoint endPoint, string id = BuddyId, X509Certificate2? own = null) => new()
    {
        Peers = [new BuddyPeer(id, endPoint)],
        Tls = new TransferTls { Certificate = own ?? DestinationCertificate, TrustedAuthorities = Authority.Trust },
        // Generous: a first lookup includes TCP, TLS and chain building on a busy test machine.
        LookupTimeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>Runs the migration with the destination asking <paramref name="buddies"/> (and its own <paramref name="index"/>).</summary>
    public Task<(TransferResult Source, TransferResult Destination)> MigrateAsync(BuddyOptions? buddies, BlockIndex? index = null) =>
        Migration.RunAsync(Migration.Destination(o => o with { Buddies = buddies, Index = index }), ep => Migration.Source(ep));

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
            await _server.DisposeAsync();
        BuddyIndex.Dispose();
        DestinationCertificate.Dispose();
        BuddyCertificate.Dispose();
        Authority.Dispose();
        Migration.Dispose();
    }
}
