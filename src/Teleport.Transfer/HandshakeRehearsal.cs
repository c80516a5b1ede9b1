using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Teleport.Blocks;
using Teleport.Transfer.Protocol;
using Teleport.Transfer.Source;

namespace Teleport.Transfer;

/// <summary>
/// Both ends' handshake, run once in memory with a throwaway secret before the real one: a fresh process otherwise
/// pays its first connection's assembly loads, type set-up and first crypto calls (about 0.1 s on the receiver, on
/// the migration's clock between the accept and the Resume) while the peer waits.
/// </summary>
internal static class HandshakeRehearsal
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);
    private static readonly Lock Gate = new();
    private static Task? _warm;

    /// <summary>
    /// Rehearses once per process, on a pool thread; a failure is logged and changes nothing (the real handshake is
    /// unaffected).
    /// </summary>
    public static Task WarmOnce(ILogger log)
    {
        lock (Gate)
            return _warm ??= WarmAsync(log);
    }

    private static Task WarmAsync(ILogger log) => Task.Run(async () =>
    {
        try
        {
            using var limit = new CancellationTokenSource(Limit);
            await RunAsync(limit.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            log.LogWarning("The data channel's handshake rehearsal failed (the first connection starts cold): {Error}", e.Message);
        }
    });

    /// <summary>Runs Hello, Challenge, both proofs and Resume between the two real handshakes; returns the frame bytes exchanged.</summary>
    public static async Task<long> RunAsync(CancellationToken ct)
    {
        byte[] secret = RandomNumberGenerator.GetBytes(32);
        var migration = Guid.NewGuid();
        var (sourceEnd, destinationEnd) = InMemoryDuplex.Pair();
        await using var source = await TransferConnection.OpenClientAsync(sourceEnd, tls: null, pacer: null, ct).ConfigureAwait(false);
        await using var destination = await TransferConnection.OpenServerAsync(destinationEnd, tls: null, ct).ConfigureAwait(false);
        var sourceOptions = new SourceOptions { MigrationId = migration, Secret = secret, VolumePath = "" };
        var destinationOptions = new DestinationOptions { MigrationId = migration, Secret = secret, VolumePath = "" };

        var sourceSide = SourceHandshake.AuthenticateAsync(source, sourceOptions, Guid.NewGuid(), new VolumeGeometry(BlockSizes.Default, BlockSizes.Default), ct);
        await DestinationHandshake.AuthenticateAsync(destination, destinationOptions, NullLogger.Instance, ct).ConfigureAwait(false);
        destination.Reader.Authenticated();
        await destination.SendAsync(new ResumeMessage(DestinationPhase.Index, 0, 0, new byte[ProtocolConstants.DigestSize]), ct).ConfigureAwait(false);
        await sourceSide.ConfigureAwait(false);
        return source.Bytes;
    }
}
