using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Security.Authentication;
using System.Text;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Tls;

namespace Teleport.Nbd.Client;

/// <summary>Client side of the fixed newstyle handshake.</summary>
internal sealed class NbdClientHandshake(PipeReader reader, Stream stream)
{
    private const int MaxReplyLength = 64 * 1024;

    private bool _noZeroes;

    /// <summary>Reads the greeting and answers with our flags.</summary>
    public async Task GreetAsync(CancellationToken cancellationToken)
    {
        byte[] greeting = await ReadAsync(18, cancellationToken).ConfigureAwait(false);
        if (BinaryPrimitives.ReadUInt64BigEndian(greeting) != NbdMagic.InitPassword)
        {
            throw new NbdProtocolException("Not an NBD server: missing NBDMAGIC.");
        }

        if (BinaryPrimitives.ReadUInt64BigEndian(greeting.AsSpan(8)) != NbdMagic.OptionRequest)
        {
            throw new NbdProtocolException("NBD server does not speak the newstyle handshake.");
        }

        var serverFlags = (NbdHandshakeFlags)BinaryPrimitives.ReadUInt16BigEndian(greeting.AsSpan(16));
        if ((serverFlags & NbdHandshakeFlags.FixedNewstyle) == 0)
        {
            throw new NbdProtocolException("NBD server does not support fixed newstyle negotiation.");
        }

        _noZeroes = (serverFlags & NbdHandshakeFlags.NoZeroes) != 0;
        var clientFlags = NbdHandshakeFlags.FixedNewstyle | (_noZeroes ? NbdHandshakeFlags.NoZeroes : NbdHandshakeFlags.None);
        byte[] flagBytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(flagBytes, (uint)clientFlags);
        await stream.WriteAsync(flagBytes, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>NBD_OPT_STARTTLS, then the TLS handshake: afterwards the stream carries TLS.</summary>
    /// <exception cref="NbdOptionException">The server refused TLS.</exception>
    /// <exception cref="NbdConnectionException">The TLS handshake failed (e.g. a certificate not from the CA).</exception>
    public async Task StartTlsAsync(NbdTls tls, string targetHost, CancellationToken cancellationToken)
    {
        await SendAsync(NbdOption.StartTls, [], cancellationToken).ConfigureAwait(false);
        (var type, byte[] data) = await ReadReplyAsync(NbdOption.StartTls, cancellationToken).ConfigureAwait(false);
        if (type != NbdOptionReplyType.Ack)
        {
            throw IsError(type)
                ? new NbdOptionException(NbdOption.StartTls, type, ErrorText(type, data))
                : new NbdProtocolException($"Unexpected reply {type} to NBD_OPT_STARTTLS.");
        }

        if (reader.TryRead(out var early))
        {
            // Plain bytes after the ACK would pass for TLS-protected ones: refuse them.
            bool injected = early.Buffer.Length > 0;
            reader.AdvanceTo(early.Buffer.Start);
            if (injected)
            {
                throw new NbdProtocolException("NBD server sent data between its NBD_OPT_STARTTLS reply and the TLS handshake.");
            }
        }

        var transport = stream as StartTlsStream ?? throw new InvalidOperationException("The connection's stream cannot switch to TLS.");
        try
        {
            await transport.StartClientAsync(tls, targetHost, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            throw new NbdConnectionException($"TLS handshake with the NBD server failed: {e.InnerException?.Message ?? e.Message}", e);
        }
    }

    /// <summary>NBD_OPT_STRUCTURED_REPLY: true when the server agreed.</summary>
    public async Task<bool> RequestStructuredRepliesAsync(CancellationToken cancellationToken)
    {
        await SendAsync(NbdOption.StructuredReply, [], cancellationToken).ConfigureAwait(false);
        (var type, _) = await ReadReplyAsync(NbdOption.StructuredReply, cancellationToken).ConfigureAwait(false);
        if (type == NbdOptionReplyType.Ack)
        {
            return true;
        }

        return IsError(type) ? false : throw new NbdProtocolException($"Unexpected reply {type} to NBD_OPT_STRUCTURED_REPLY.");
    }

    /// <summary>NBD_OPT_LIST, then NBD_OPT_ABORT.</summary>
    public async Task<IReadOnlyList<NbdExportEntry>> ListAsync(CancellationToken cancellationToken)
    {
        await SendAsync(NbdOption.List, [], cancellationToken).ConfigureAwait(false);
        var entries = new List<NbdExportEntry>();
        while (true)
        {
            (var type, byte[] data) = await ReadReplyAsync(NbdOption.List, cancellationToken).ConfigureAwait(false);
            if (type == NbdOptionReplyType.Ack)
            {
                return entries;
            }

            if (type != NbdOptionReplyType.Server)
            {
                throw new NbdOptionException(NbdOption.List, type, ErrorText(type, data));
            }

            if (data.Length < 4 || BinaryPrimitives.ReadUInt32BigEndian(data) > (uint)(data.Length - 4))
            {
                throw new NbdProtocolException("Malformed NBD_REP_SERVER reply.");
            }

            int nameLength = (int)BinaryPrimitives.ReadUInt32BigEndian(data);
            entries.Add(new NbdExportEntry(Encoding.UTF8.GetString(data, 4, nameLength), Encoding.UTF8.GetString(data, 4 + nameLength, data.Length - 4 - nameLength)));
        }
    }

    /// <summary>Ends negotiation without choosing an export.</summary>
    public async Task AbortAsync(CancellationToken cancellationToken)
    {
        await SendAsync(NbdOption.Abort, [], cancellationToken).ConfigureAwait(false);
        try
        {
            await ReadReplyAsync(NbdOption.Abort, cancellationToken).ConfigureAwait(false);
        }
        catch (NbdConnectionException)
        {
            // Older servers just close: the protocol allows both.
        }
    }

    /// <summary>
    /// NBD_OPT_GO for <paramref name="exportName"/> (falls back to NBD_OPT_EXPORT_NAME when the server does not
    /// know NBD_OPT_GO). Afterwards the connection is in the transmission phase.
    /// </summary>
    public async Task<NbdExportDetails> GoAsync(string exportName, int defaultMaxPayload, CancellationToken cancellationToken)
    {
        await SendAsync(NbdOption.Go, NbdOptionCodec.BuildInfoRequest(exportName, [NbdInfoType.BlockSize]), cancellationToken).ConfigureAwait(false);
        long? size = null;
        var flags = NbdTransmissionFlags.None;
        int minimum = 1, preferred = 4096, maximum = defaultMaxPayload;
        while (true)
        {
            (var type, byte[] data) = await ReadReplyAsync(NbdOption.Go, cancellationToken).ConfigureAwait(false);
            switch (type)
            {
                case NbdOptionReplyType.Info:
                    if (data.Length < 2)
                    {
                        throw new NbdProtocolException("Empty NBD_REP_INFO.");
                    }

                    var info = (NbdInfoType)BinaryPrimitives.ReadUInt16BigEndian(data);
                    if (info == NbdInfoType.Export)
                    {
                        if (data.Length != 12)
                        {
                            throw new NbdProtocolException("Malformed NBD_INFO_EXPORT.");
                        }

                        size = checked((long)BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(2)));
                        flags = (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(10));
                    }
                    else if (info == NbdInfoType.BlockSize)
                    {
                        if (data.Length != 14)
                        {
                            throw new NbdProtocolException("Malformed NBD_INFO_BLOCK_SIZE.");
                        }

                        minimum = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(2)), int.MaxValue);
                        preferred = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(6)), int.MaxValue);
                        maximum = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(data.AsSpan(10)), int.MaxValue);
                    }

                    break;

                case NbdOptionReplyType.Ack:
                    if (size is null)
                    {
                        throw new NbdProtocolException("NBD_OPT_GO acknowledged without NBD_INFO_EXPORT.");
                    }

                    return new NbdExportDetails(exportName, size.Value, flags, minimum, preferred, maximum);

                case NbdOptionReplyType.ErrorUnsupported:
                    return await ExportNameAsync(exportName, defaultMaxPayload, cancellationToken).ConfigureAwait(false);

                default:
                    throw IsError(type)
                        ? new NbdOptionException(NbdOption.Go, type, ErrorText(type, data))
                        : new NbdProtocolException($"Unexpected reply {type} to NBD_OPT_GO.");
            }
        }
    }

    private async Task<NbdExportDetails> ExportNameAsync(string exportName, int defaultMaxPayload, CancellationToken cancellationToken)
    {
        await SendAsync(NbdOption.ExportName, Encoding.UTF8.GetBytes(exportName), cancellationToken).ConfigureAwait(false);
        byte[] reply;
        try
        {
            reply = await ReadAsync(10 + (_noZeroes ? 0 : NbdMagic.ExportNamePadding), cancellationToken).ConfigureAwait(false);
        }
        catch (NbdConnectionException e)
        {
            throw new NbdOptionException(NbdOption.ExportName, NbdOptionReplyType.ErrorUnknown, $"server closed the connection: no export '{exportName}'? ({e.Message})");
        }

        return new NbdExportDetails(exportName, checked((long)BinaryPrimitives.ReadUInt64BigEndian(reply)),
            (NbdTransmissionFlags)BinaryPrimitives.ReadUInt16BigEndian(reply.AsSpan(8)), 1, 4096, defaultMaxPayload);
    }

    private async Task SendAsync(NbdOption option, byte[] data, CancellationToken cancellationToken) =>
        await stream.WriteAsync(NbdOptionCodec.BuildRequest(option, data), cancellationToken).ConfigureAwait(false);

    private async Task<(NbdOptionReplyType Type, byte[] Data)> ReadReplyAsync(NbdOption option, CancellationToken cancellationToken)
    {
        byte[] header = await ReadAsync(NbdMagic.OptionReplyHeaderLength, cancellationToken).ConfigureAwait(false);
        if (BinaryPrimitives.ReadUInt64BigEndian(header) != NbdMagic.OptionReply)
        {
            throw new NbdProtocolException("Bad option reply magic.");
        }

        var repliedTo = (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8));
        if (repliedTo != option)
        {
            throw new NbdProtocolException($"Server answered option {repliedTo} while {option} was pending.");
        }

        var type = (NbdOptionReplyType)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16));
        if (length > MaxReplyLength)
        {
            throw new NbdProtocolException($"Option reply of {length} bytes is too long.");
        }

        return (type, await ReadAsync((int)length, cancellationToken).ConfigureAwait(false));
    }

    private async Task<byte[]> ReadAsync(int count, CancellationToken cancellationToken) =>
        await NbdPipe.ReadExactAsync(reader, count, cancellationToken).ConfigureAwait(false)
        ?? throw new NbdConnectionException("NBD server closed the connection during the handshake.");

    private static bool IsError(NbdOptionReplyType type) => ((uint)type & 0x8000_0000) != 0;

    private static string ErrorText(NbdOptionReplyType type, byte[] data) => data.Length > 0 ? Encoding.UTF8.GetString(data) : type.ToString();
}
