using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Teleport.Blocks;

namespace Teleport.Transfer.Tests;

public class MoreMigrationTests
{
    [Fact]
    public async Task Blocks_found_in_the_local_index_are_not_sent()
    {
        // The destination holds a golden image sharing the 'g' part (and the same text blocks) with the source.
        string golden = VolumeBuilder.Repeat("r", 40);
        byte[] goldenBytes = VolumeBuilder.Build(golden, seed: 21);
        byte[] sourceBytes = new byte[80 * VolumeBuilder.BlockSize];
        goldenBytes.CopyTo(sourceBytes, 0); // first 40 blocks identical to the golden image
        RandomNumberGenerator.Fill(sourceBytes.AsSpan(40 * VolumeBuilder.BlockSize, 20 * VolumeBuilder.BlockSize));
        using var m = new Migration(sourceBytes); // last 20 blocks zero
        string goldenPath = m.Dir.File("golden.img");
        File.WriteAllBytes(goldenPath, goldenBytes);
        using var index = BlockIndex.Open(m.Dir.File("index"));
        index.Update([goldenPath]);

        var (source, destination) = await m.RunAsync(m.Destination(o => o with { Index = index }), ep => m.Source(ep));

        m.AssertEqualVolumes();
        Assert.Equal(40, source.BlocksFromIndex);
        Assert.Equal(20, source.ZeroBlocks);
        Assert.Equal(20, source.BlocksSent);
        Assert.Equal(20, destination.BlocksSent);
        // Received blocks were added to the index: a lookup of one of them now hits.
        byte[] block = new byte[VolumeBuilder.BlockSize];
        var received = sourceBytes.AsSpan(50 * VolumeBuilder.BlockSize, VolumeBuilder.BlockSize);
        Assert.True(index.TryReadVerified(Fingerprint.Compute(received), block));
    }

    [Theory]
    [InlineData(3)]   // destination file exists, bigger, full of garbage
    [InlineData(-3)]  // destination file exists, smaller, full of garbage
    public async Task An_existing_destination_of_another_size_ends_up_equal_to_the_source(int blockDelta)
    {
        using var m = new Migration(VolumeBuilder.Build("rrzzzzrrtrzzzz", seed: 5, tail: 9));
        byte[] garbage = RandomNumberGenerator.GetBytes((14 + blockDelta) * VolumeBuilder.BlockSize + 500);
        File.WriteAllBytes(m.DestinationPath, garbage);

        var (source, _) = await m.RunAsync(m.Destination(), ep => m.Source(ep));

        Assert.True(source.Verified);
        m.AssertEqualVolumes();
    }

    [Fact]
    public async Task An_empty_volume_migrates()
    {
        using var m = new Migration([]);
        var (source, destination) = await m.RunAsync(m.Destination(), ep => m.Source(ep));
        Assert.Equal(0, source.Blocks);
        Assert.True(destination.Verified);
        m.AssertEqualVolumes();
    }

    [Fact]
    public async Task Other_block_sizes_work()
    {
        using var m = new Migration(VolumeBuilder.Build("rrzzatrrzzaarz", seed: 8, tail: 4000), blockSize: 16384);
        var (source, _) = await m.RunAsync(m.Destination(), ep => m.Source(ep));
        Assert.Equal(BlockSizes.CountBlocks(new FileInfo(m.SourcePath).Length, 16384), source.Blocks);
        m.AssertEqualVolumes();
    }

    [Fact]
    public async Task A_wrong_secret_fails_the_source_and_leaves_the_destination_serving()
    {
        using var m = new Migration(VolumeBuilder.Build("rrrrzzrt", seed: 4));
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var destination = new DestinationSession(m.Destination());
        var endpoint = destination.Start();
        var run = destination.RunAsync(guard.Token);

        var wrong = m.Source(endpoint) with { Secret = RandomNumberGenerator.GetBytes(32) };
        await using (var impostor = new SourceSession(wrong, m.Tracker))
        {
            var error = await Assert.ThrowsAsync<TransferException>(() => impostor.RunAsync(guard.Token));
            Assert.Equal(TransferErrorCode.AuthenticationFailed, error.Code);
            Assert.True(error.Remote);
        }

        Assert.False(File.Exists(m.DestinationPath));
        Assert.False(run.IsCompleted);

        // The real source still gets through.
        await using var source = new SourceSession(m.Source(endpoint), m.Tracker);
        var result = await source.RunAsync(guard.Token);
        Assert.True(result.Verified);
        await run;
        m.AssertEqualVolumes();
    }

    [Fact]
    public async Task A_destination_without_the_secret_is_detected_by_the_source()
    {
        using var m = new Migration(VolumeBuilder.Build("rr", seed: 4));
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        // The destination "knows" another secret: the source's proof fails there and the source gets the error.
        await using var destination = new DestinationSession(m.Destination() with { Secret = RandomNumberGenerator.GetBytes(32) });
        var endpoint = destination.Start();
        var run = destination.RunAsync(guard.Token);
        await using var source = new SourceSession(m.Source(endpoint), m.Tracker);
        var error = await Assert.ThrowsAsync<TransferException>(() => source.RunAsync(guard.Token));
        Assert.Equal(TransferErrorCode.AuthenticationFailed, error.Code);
        await guard.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }

    [Fact]
    public async Task Tls_with_a_pinned_certificate_works_and_a_wrong_pin_is_refused()
    {
        using var m = new Migration(VolumeBuilder.Build("rrzzrrttaa", seed: 6, tail: 1));
        using var certificate = SelfSigned();
        var serverTls = new TransferTls { Certificate = certificate };

        // Wrong pin first: the source refuses the destination.
        using (var guard = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await using var destination = new DestinationSession(m.Destination(o => o with { Tls = serverTls }));
            var endpoint = destination.Start();
            var run = destination.RunAsync(guard.Token);
            var bad = m.Source(endpoint, o => o with { Tls = new TransferTls { PinnedPeerSha256 = RandomNumberGenerator.GetBytes(32) } });
            await using var source = new SourceSession(bad, m.Tracker);
            var error = await Assert.ThrowsAsync<TransferException>(() => source.RunAsync(guard.Token));
            Assert.Equal(TransferErrorCode.AuthenticationFailed, error.Code);
            Assert.False(File.Exists(m.DestinationPath));
            await guard.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        }

        var (result, _) = await m.RunAsync(
            m.Destination(o => o with { Tls = serverTls }),
            ep => m.Source(ep, o => o with { Tls = new TransferTls { PinnedPeerSha256 = TransferTls.Sha256Of(certificate) } }));
        Assert.True(result.Verified);
        m.AssertEqualVolumes();
    }

    [Fact]
    public async Task A_destination_restarted_from_its_state_file_continues_without_starting_over()
    {
        var (_, restartedResult, _) = await RestartDestinationMidCopyAsync(holdRequests: false);
        Assert.True(restartedResult.BlocksSent < 3000, $"the restarted destination received {restartedResult.BlocksSent} blocks: it started over");
    }

    [Fact]
    public async Task A_restarted_destination_whose_list_crosses_the_resent_frames_receives_each_missing_block_once()
    {
        // The source resends the frames the destination did not make durable while the destination's list of what it
        // lacks (the same blocks) is on its way; the proxy makes the list arrive after the first resent frame left.
        var (_, restartedResult, present) = await RestartDestinationMidCopyAsync(holdRequests: true);
        Assert.Equal(3000 - present, restartedResult.BlocksSent);
    }

    /// <summary>
    /// 3,000 blocks; the link is cut at the 7th Data frame, the destination "crashes" once its state file holds at least
    /// 1,024 blocks and a new one continues from that file. Returns both results and the blocks the file held.
    /// </summary>
    private static async Task<(TransferResult Source, TransferResult Restarted, long Present)> RestartDestinationMidCopyAsync(bool holdRequests)
    {
        using var m = new Migration(VolumeBuilder.Build(VolumeBuilder.Repeat("r", 3000), seed: 12));
        using var guard = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var options = m.Destination(o => o with { CheckpointBytes = 256 * 1024 });
        var first = new DestinationSession(options);
        var firstEndpoint = first.Start();
        var firstRun = first.RunAsync(guard.Token);
        var proxy = new FrameCuttingProxy(firstEndpoint, Protocol.MessageType.Data, 7);
        var second = new TaskCompletionSource<IPEndPoint>();
        int connects = 0;
        var sourceOptions = m.Source(proxy.EndPoint) with
        {
            Destination = null,
            Connect = async ct =>
            {
                var target = Interlocked.Increment(ref connects) == 1 ? proxy.EndPoint : await second.Task.WaitAsync(ct);
                var client = new System.Net.Sockets.TcpClient();
                await client.ConnectAsync(target, ct);
                return client.GetStream();
            },
        };
        await using var source = new SourceSession(sourceOptions, m.Tracker);
        var sourceRun = source.RunAsync(guard.Token);

        // Wait for the cut, then "crash" the destination process and start a new one on the same volume.
        while (!proxy.HasCut)
            await Task.Delay(10, guard.Token);
        string statePath = m.DestinationPath + ".teleport-state";
        for (int i = 0; i < 200 && (DestinationState.Load(statePath)?.Presence.Count ?? 0) < 4 * 256; i++)
            await Task.Delay(50, guard.Token);
        await first.DisposeAsync();
        await proxy.DisposeAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => firstRun);
        long present = DestinationState.Load(statePath)!.Presence.Count;
        await using var restarted = new DestinationSession(options with { Listen = new IPEndPoint(IPAddress.Loopback, 0) });
        var restartedEndpoint = restarted.Start();
        await using var hold = new FrameCuttingProxy(restartedEndpoint, Protocol.MessageType.Data, 0, holdRequestsUntilData: true);
        second.SetResult(holdRequests ? hold.EndPoint : restartedEndpoint);
        var restartedRun = restarted.RunAsync(guard.Token);

        var result = await sourceRun;
        var restartedResult = await restartedRun;
        Assert.True(result.Verified && restartedResult.Verified);
        m.AssertEqualVolumes();
        Assert.True(present >= 4 * 256, $"the state file held {present} blocks when the destination was restarted");
        return (result, restartedResult, present);
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=teleport-test", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        // Round-trip through PKCS#12 so the private key is usable by SslStream on Linux.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }
}
