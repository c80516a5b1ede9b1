using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer.Tests;

/// <summary>A hand-driven source for feeding the destination exact (and wrong) frames.</summary>
internal sealed class RawPeer : IAsyncDisposable
{
    private readonly TcpClient _client = new();
    private NetworkStream _stream = null!;
    private FrameReader _reader = null!;

    public static async Task<RawPeer> ConnectAsync(IPEndPoint endpoint)
    {
        var peer = new RawPeer();
        await peer._client.ConnectAsync(endpoint);
        peer._stream = peer._client.GetStream();
        peer._reader = new FrameReader(peer._stream);
        return peer;
    }

    public Task SendRawAsync(byte[] bytes) => _stream.WriteAsync(bytes).AsTask();

    public async Task SendAsync(MessageType type, ReadOnlyMemory<byte> payload, byte flags = 0)
    {
        byte[] header = new byte[ProtocolConstants.HeaderSize];
        new FrameHeader(payload.Length, type, flags).Write(header);
        await _stream.WriteAsync(header);
        await _stream.WriteAsync(payload);
    }

    public async Task<Frame> ReadAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        return await _reader.ReadAsync(timeout.Token);
    }

    /// <summary>Reads until the peer closes; returns the Error frame it sent before, if any.</summary>
    public async Task<TransferException?> ReadErrorThenCloseAsync()
    {
        TransferException? error = null;
        while (true)
        {
            Frame frame;
            try
            {
                frame = await ReadAsync();
            }
            catch (TransferException e) when (e.Code == TransferErrorCode.ConnectionLost)
            {
                return error;
            }

            if (frame.Type == MessageType.Error)
                error = ErrorMessage.Parse(frame.Payload.Span);
        }
    }

    public static byte[] Hello(Guid migration, long size, int blockSize, ushort min = ProtocolConstants.MinVersion, ushort max = ProtocolConstants.MaxVersion, Guid? session = null)
    {
        byte[] bytes = new byte[HelloMessage.Size];
        new HelloMessage(min, max, migration, session ?? Guid.NewGuid(), RandomNumberGenerator.GetBytes(32), size, blockSize).Write(bytes);
        return bytes;
    }

    /// <summary>Full handshake as a source; returns the destination's Resume.</summary>
    public async Task<ResumeMessage> AuthenticateAsync(byte[] secret, Guid migration, long size, int blockSize)
    {
        byte[] hello = Hello(migration, size, blockSize);
        await SendAsync(MessageType.Hello, hello);
        var challenge = await ReadAsync();
        Assert.Equal(MessageType.Challenge, challenge.Type);
        byte[] transcript = Handshake.TranscriptHash(hello, challenge.Payload.Span);
        await SendAsync(MessageType.SourceProof, Handshake.Proof(secret, source: true, transcript));
        var proof = await ReadAsync();
        Assert.Equal(MessageType.DestinationProof, proof.Type);
        Assert.True(Handshake.Check(Handshake.Proof(secret, source: false, transcript), proof.Payload.Span));
        var resume = await ReadAsync();
        Assert.Equal(MessageType.Resume, resume.Type);
        return ResumeMessage.Parse(resume.Payload.Span);
    }

    public static byte[] IndexBatch(long first, IEnumerable<byte[]> blocks)
    {
        var list = blocks.ToList();
        byte[] bytes = new byte[8 + list.Count * (1 + Teleport.Blocks.FingerprintPrefix.Size)];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)first);
        int at = 8;
        foreach (byte[]? block in list)
        {
            bytes[at++] = ProtocolConstants.EntryFingerprint;
            Teleport.Blocks.FingerprintPrefix.Of(Teleport.Blocks.Fingerprint.Compute(block)).WriteTo(bytes.AsSpan(at));
            at += Teleport.Blocks.FingerprintPrefix.Size;
        }

        return bytes;
    }

    public static byte[] Data(long seq, (long Start, int Count, bool Zero)[] runs, byte[] raw)
    {
        byte[] header = new byte[DataMessage.HeaderSize(runs.Length)];
        DataMessage.WriteHeader(header, seq, runs.Select(r => new DataRun(r.Start, r.Count, r.Zero)).ToArray(), raw.Length);
        return [.. header, .. raw];
    }

    public async ValueTask DisposeAsync()
    {
        await _reader.CompleteAsync();
        _client.Dispose();
    }
}
