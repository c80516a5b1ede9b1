using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Teleport.Testing;

namespace Teleport.Transfer.Tests;

/// <summary>
/// The data channel between storage workers: both ends present certificates from the operator's CA carrying their
/// storage id, over real TCP; no secret is involved. Also the handshake timeouts of both ends.
/// </summary>
public sealed class MutualTlsTests : IDisposable
{
    private const string SourceId = "storage-a";
    private const string DestinationId = "storage-b";

    private readonly TestAuthority _ca = new();
    private readonly TestAuthority _otherCa = new("Another CA");

    private TransferTls Tls(X509Certificate2 own, string peer, TestAuthority? trust = null) =>
        new() { Certificate = own, TrustedAuthorities = (trust ?? _ca).Trust, PeerName = peer };

    [Fact]
    public async Task Certificates_from_the_ca_carrying_both_storage_ids_migrate_without_a_secret()
    {
        using var m = new Migration(VolumeBuilder.Build("rrzzrrttaa", seed: 21, tail: 1));
        using var source = _ca.Issue(SourceId);
        using var destination = _ca.Issue(DestinationId);
        var (result, _) = await m.RunAsync(
            m.Destination(o => o with { Secret = [], Tls = Tls(destination, SourceId) }),
            ep => m.Source(ep, o => o with { Secret = [], Tls = Tls(source, DestinationId) }));
        Assert.True(result.Verified);
        m.AssertEqualVolumes();
    }

    [Fact]
    public async Task A_source_certificate_from_another_ca_is_refused_by_the_destination()
    {
        using var m = new Migration(VolumeBuilder.Build("rrrr", seed: 22));
        using var rogue = _otherCa.Issue(SourceId);
        using var destination = _ca.Issue(DestinationId);
        // The rogue source trusts the destination (it could), but the destination does not trust it.
        var (error, rejected) = await RefusedAsync(m, Tls(destination, SourceId), Tls(rogue, DestinationId));
        Assert.False(File.Exists(m.DestinationPath));
        Assert.Contains(rejected, e => e.Message.Contains("not accepted by the configured CA", StringComparison.Ordinal));
        Assert.NotNull(error);
    }

    [Fact]
    public async Task A_destination_certificate_from_another_ca_is_refused_by_the_source()
    {
        using var m = new Migration(VolumeBuilder.Build("rrrr", seed: 23));
        using var source = _ca.Issue(SourceId);
        using var rogue = _otherCa.Issue(DestinationId);
        var (error, _) = await RefusedAsync(m, Tls(rogue, SourceId, _otherCa), Tls(source, DestinationId));
        Assert.Equal(TransferErrorCode.AuthenticationFailed, error.Code);
        Assert.Contains("not accepted by the configured CA", error.Message);
        Assert.False(File.Exists(m.DestinationPath));
    }

    [Fact]
    public async Task A_destination_with_the_right_ca_but_another_storage_id_is_refused_by_the_source()
    {
        using var m = new Migration(VolumeBuilder.Build("rrrr", seed: 24));
        using var source = _ca.Issue(SourceId);
        using var impostor = _ca.Issue("storage-c");
        var (error, _) = await RefusedAsync(m, Tls(impostor, SourceId), Tls(source, DestinationId));
        Assert.Equal(TransferErrorCode.AuthenticationFailed, error.Code);
        Assert.Contains("names 'storage-c' in its subject CN, not the expected storage 'storage-b'", error.Message);
        Assert.False(File.Exists(m.DestinationPath));
    }

    [Fact]
    public async Task A_source_with_the_right_ca_but_another_storage_id_is_refused_by_the_destination()
    {
        using var m = new Migration(VolumeBuilder.Build("rrrr", seed: 25));
        using var impostor = _ca.Issue("storage-c");
        using var destination = _ca.Issue(DestinationId);
        var (_, rejected) = await RefusedAsync(m, Tls(destination, SourceId), Tls(impostor, DestinationId));
        Assert.Contains(rejected, e => e.Message.Contains("names 'storage-c' in its subject CN, not the expected storage 'storage-a'", StringComparison.Ordinal));
        Assert.False(File.Exists(m.DestinationPath));
    }

    [Fact]
    public async Task A_source_without_a_certificate_is_refused()
    {
        using var m = new Migration(VolumeBuilder.Build("rrrr", seed: 26));
        using var destination = _ca.Issue(DestinationId);
        var pinned = new TransferTls { PinnedPeerSha256 = TransferTls.Sha256Of(destination) };
        var (_, rejected) = await RefusedAsync(m, Tls(destination, SourceId), pinned);
        Assert.Contains(rejected, e => e.Message.Contains("no certificate", StringComparison.Ordinal));
        Assert.False(File.Exists(m.DestinationPath));
    }

    [Fact]
    public async Task A_destination_that_stalls_the_handshake_times_out_on_the_source()
    {
        using var m = new Migration(VolumeBuilder.Build("rrrr", seed: 27));
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var accepted = silent.AcceptSocketAsync();
        await using var source = new SourceSession(m.Source((IPEndPoint)silent.LocalEndpoint, o => o with
        {
            HandshakeTimeout = TimeSpan.FromMilliseconds(500),
            MaxReconnectAttempts = 0,
        }), m.Tracker);
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var error = await Assert.ThrowsAsync<TransferException>(() => source.RunAsync(guard.Token));
        Assert.Equal(TransferErrorCode.ConnectionLost, error.Code);
        Assert.Contains("did not complete the handshake within", error.Message);
        Assert.False(guard.IsCancellationRequested, "the handshake timeout, not the test's guard, must end it");
        (await accepted).Dispose();
    }

    [Fact]
    public async Task A_source_that_stalls_the_tls_handshake_times_out_on_the_destination()
    {
        using var m = new Migration(VolumeBuilder.Build("rrrr", seed: 28));
        using var destination = _ca.Issue(DestinationId);
        var rejected = new List<Exception>();
        await using var session = new DestinationSession(m.Destination(o => o with
        {
            Secret = [],
            Tls = Tls(destination, SourceId),
            HandshakeTimeout = TimeSpan.FromMilliseconds(500),
            Observer = new Rejections(rejected),
        }));
        var endpoint = session.Start();
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var run = session.RunAsync(guard.Token);
        using var client = new TcpClient();
        await client.ConnectAsync(endpoint);
        // Connected, never says a word: the destination gives up on it and closes.
        int read = await client.GetStream().ReadAsync(new byte[16], guard.Token);
        Assert.Equal(0, read);
        Assert.Contains(rejected, e => e.Message.Contains("no authentication within", StringComparison.Ordinal));
        Assert.False(run.IsCompleted, "a stalled peer must not end the session");
        await guard.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }

    // Runs a destination and a source that must not get through; returns the source's error and the destination's refusals.
    private static async Task<(TransferException Error, List<Exception> Rejected)> RefusedAsync(Migration m, TransferTls destinationTls, TransferTls sourceTls)
    {
        var rejected = new List<Exception>();
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var destination = new DestinationSession(m.Destination(o => o with { Secret = [], Tls = destinationTls, Observer = new Rejections(rejected) }));
        var endpoint = destination.Start();
        var run = destination.RunAsync(guard.Token);
        await using var source = new SourceSession(m.Source(endpoint, o => o with { Tls = sourceTls, MaxReconnectAttempts = 1 }), m.Tracker);
        var error = await Assert.ThrowsAsync<TransferException>(() => source.RunAsync(guard.Token));
        // The destination closes before it reports the refusal: give the report a moment.
        for (int i = 0; i < 100 && Count(rejected) == 0; i++)
            await Task.Delay(100, guard.Token);
        Assert.False(run.IsCompleted, "a refused peer must not end the destination's session");
        await guard.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        lock (rejected)
            return (error, [.. rejected]);
    }

    private static int Count(List<Exception> list)
    {
        lock (list)
            return list.Count;
    }

    private sealed class Rejections(List<Exception> list) : ITransferObserver
    {
        public void OnRejected(Exception error)
        {
            lock (list)
                list.Add(error);
        }
    }

    public void Dispose()
    {
        _ca.Dispose();
        _otherCa.Dispose();
    }
}
