using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Teleport.Blocks;
using Teleport.Testing;
using Teleport.Transfer;
using Teleport.Transfer.Buddies;

namespace Teleport.Benchmarks;

/// <summary>
/// <c>-- buddies BASE TARGET</c>: migrates TARGET over loopback twice, to a destination whose own index holds BASE and
/// to one whose index is empty but whose buddy (a <see cref="BuddyServer"/> over mutual TLS) holds BASE, and prints
/// the bytes each put on the data channel (the WAN) and on the buddy channel (the LAN). Compression is fixed at level
/// 6 (what a WAN link starts at), so the two runs differ only in where the destination found the base's blocks.
/// </summary>
public static class BuddyMeasurement
{
    private const string DestinationId = "storage-b1", BuddyId = "storage-b2";
    private static readonly CapturedLogs Logs = new();

    public static int Run(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: buddies BASE.img TARGET.img");
            return 2;
        }

        using var dir = new TempDir();
        using var ca = new TestAuthority();
        using var destinationCertificate = ca.Issue(DestinationId);
        using var buddyCertificate = ca.Issue(BuddyId);
        using var baseIndex = BlockIndex.Open(dir.File("base-index"));
        baseIndex.Update([Path.GetFullPath(args[0])]);
        using var emptyIndex = BlockIndex.Open(dir.File("empty-index"));
        // The buddy's own index: the destination's learns the blocks it receives, so it cannot be shared.
        using var buddyIndex = BlockIndex.Open(dir.File("buddy-index"));
        buddyIndex.Update([Path.GetFullPath(args[0])]);

        Console.WriteLine("| destination | WAN bytes | data bytes | blocks sent | from own index | from buddy | buddy (LAN) bytes | seconds |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- | --- |");
        var own = Migrate(args[1], dir.File("own.img"), baseIndex, null);
        Print("holds the base itself", own);

        var buddyOptions = new BuddyServerOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Index = buddyIndex,
            Tls = new TransferTls { Certificate = buddyCertificate, TrustedAuthorities = ca.Trust },
            Buddies = [DestinationId],
        };
        var server = new BuddyServer(buddyOptions);
        try
        {
            var buddies = new BuddyOptions
            {
                Peers = [new BuddyPeer(BuddyId, server.Start())],
                Tls = new TransferTls { Certificate = destinationCertificate, TrustedAuthorities = ca.Trust },
                // The first lookup pays TCP, TLS and a cold JIT in this one process: generous, so a loaded machine is measured too.
                LookupTimeout = TimeSpan.FromSeconds(30),
            };
            var viaBuddy = Migrate(args[1], dir.File("buddy.img"), emptyIndex, buddies);
            Print("empty index, buddy holds the base", viaBuddy);
            Console.WriteLine();
            Console.WriteLine($"WAN bytes via the buddy / with the base at home: {(double)viaBuddy.BytesOnWire / own.BytesOnWire:P2}");
        }
        finally
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        return 0;
    }

    private static TransferResult Migrate(string target, string destinationPath, BlockIndex index, BuddyOptions? buddies)
    {
        var id = Guid.NewGuid();
        byte[] secret = RandomNumberGenerator.GetBytes(32);
        long blocks = BlockSizes.CountBlocks(new FileInfo(target).Length, BlockSizes.Default);
        var destination = new DestinationSession(new DestinationOptions
        {
            MigrationId = id,
            Secret = secret,
            VolumePath = destinationPath,
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Index = index,
            Buddies = buddies,
            CompletionLinger = TimeSpan.FromSeconds(5),
        }, Logs.CreateLogger("destination"));
        var endpoint = destination.Start();
        var source = new SourceSession(new SourceOptions
        {
            MigrationId = id,
            Secret = secret,
            VolumePath = target,
            Destination = endpoint,
            AutoCutover = true,
            DirtyThresholdBlocks = 0,
            CompressionLevel = 6,
        }, new DirtyBitmap(blocks, BlockSizes.Default));
        var clock = Stopwatch.StartNew();
        var receiving = destination.RunAsync();
        var sent = source.RunAsync().GetAwaiter().GetResult();
        var received = receiving.GetAwaiter().GetResult();
        source.DisposeAsync().AsTask().GetAwaiter().GetResult();
        destination.DisposeAsync().AsTask().GetAwaiter().GetResult();
        foreach (string line in Logs.Lines.Where(l => l.StartsWith("Warning", StringComparison.Ordinal)))
            Console.Error.WriteLine(line);
        if (!received.Verified)
            throw new InvalidOperationException("the destination did not verify the volume");
        return received with { BytesOnWire = sent.BytesOnWire, DataBytes = sent.DataBytes, BlocksSent = sent.BlocksSent, Seconds = clock.Elapsed.TotalSeconds };
    }

    private static void Print(string what, TransferResult r) =>
        Console.WriteLine($"| {what} | {r.BytesOnWire:N0} | {r.DataBytes:N0} | {r.BlocksSent:N0} | {r.BlocksFromIndex:N0} | {r.BlocksFromBuddies:N0} | {r.BuddyBytes:N0} | {r.Seconds:F1} |");
}
