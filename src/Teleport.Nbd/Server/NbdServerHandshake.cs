using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using System.Security.Authentication;
using System.Text;
using Microsoft.Extensions.Logging;
using Teleport.Nbd.Exports;
using Teleport.Nbd.Protocol;
using Teleport.Nbd.Tls;

namespace Teleport.Nbd.Server;

/// <summary>
/// Server side of the fixed newstyle handshake: greeting, client flags, then option haggling until
/// NBD_OPT_GO / NBD_OPT_EXPORT_NAME picks an export (returns the session) or the client aborts
/// or breaks the protocol (returns null: the caller closes the connection). With TLS configured nothing but
/// NBD_OPT_STARTTLS and NBD_OPT_ABORT is served before TLS runs, and a client sees and opens only the exports
/// its certificate's identity is allowed.
/// </summary>
internal sealed class NbdServerHandshake(NbdExportRegistry exports, NbdServerOptions options, ILogger logger, string remote)
{
    private const NbdHandshakeFlags ServerFlags = NbdHandshakeFlags.FixedNewstyle | NbdHandshakeFlags.NoZeroes;

    private bool _structuredReplies;
    private string? _identity;

    public async Task<NbdSession?> RunAsync(PipeReader reader, Stream output, CancellationToken cancellationToken)
    {
        if (await GreetAsync(reader, output, cancellationToken).ConfigureAwait(false) is not { } clientFlags)
        {
            return null;
        }

        bool noZeroes = (clientFlags & NbdHandshakeFlags.NoZeroes) != 0;
        while (true)
        {
            if (await ReadOptionAsync(reader, cancellationToken).ConfigureAwait(false) is not { } request)
            {
                return null;
            }

            var (option, data) = request;

            var step = options.Tls is not null && _identity is null && option is not (NbdOption.StartTls or NbdOption.Abort)
                ? await RequireTlsAsync(option, output, cancellationToken).ConfigureAwait(false)
                : await HandleAsync(option, data, noZeroes, reader, output, cancellationToken).ConfigureAwait(false);
            if (step.Ends)
            {
                return step.Session;
            }
        }
    }

    /// <summary>Sends the greeting and reads the client's flags; null when the connection must close.</summary>
    private async Task<NbdHandshakeFlags?> GreetAsync(PipeReader reader, Stream output, CancellationToken cancellationToken)
    {
        byte[] greeting = new byte[18];
        BinaryPrimitives.WriteUInt64BigEndian(greeting, NbdMagic.InitPassword);
        BinaryPrimitives.WriteUInt64BigEndian(greeting.AsSpan(8), NbdMagic.OptionRequest);
        BinaryPrimitives.WriteUInt16BigEndian(greeting.AsSpan(16), (ushort)ServerFlags);
        await output.WriteAsync(greeting, cancellationToken).ConfigureAwait(false);

        byte[]? flagBytes = await NbdPipe.ReadExactAsync(reader, 4, cancellationToken).ConfigureAwait(false);
        if (flagBytes is null)
        {
            return null;
        }

        var clientFlags = (NbdHandshakeFlags)BinaryPrimitives.ReadUInt32BigEndian(flagBytes);
        if ((clientFlags & ~ServerFlags) != 0) // a client may only take up flags the server offered
        {
            NbdLog.HandshakeViolation(logger, remote, $"unknown client flags 0x{(uint)clientFlags:x}");
            return null;
        }

        return clientFlags;
    }

    /// <summary>Reads one option request, its length bounded before its data is read; null when the connection must close.</summary>
    private async Task<(NbdOption Option, byte[] Data)?> ReadOptionAsync(PipeReader reader, CancellationToken cancellationToken)
    {
        byte[]? header = await NbdPipe.ReadExactAsync(reader, NbdMagic.OptionHeaderLength, cancellationToken).ConfigureAwait(false);
        if (header is null)
        {
            return null;
        }

        ulong magic = BinaryPrimitives.ReadUInt64BigEndian(header);
        if (magic != NbdMagic.OptionRequest)
        {
            NbdLog.HandshakeViolation(logger, remote, $"bad option magic 0x{magic:x16}");
            return null;
        }

        var option = (NbdOption)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8));
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
        if (length > (uint)options.MaxOptionLength)
        {
            NbdLog.HandshakeViolation(logger, remote, $"option {option} carries {length} bytes, limit {options.MaxOptionLength}");
            return null;
        }

        byte[]? data = await NbdPipe.ReadExactAsync(reader, (int)length, cancellationToken).ConfigureAwait(false);
        return data is null ? null : (option, data);
    }

    /// <summary>Serves one option; the step says whether the haggling goes on, ends in a session, or closes.</summary>
    private async Task<OptionStep> HandleAsync(NbdOption option, byte[] data, bool noZeroes, PipeReader reader, Stream output,
        CancellationToken cancellationToken)
    {
        switch (option)
        {
            case NbdOption.StartTls when options.Tls is not null:
                return await StartTlsAsync(data, reader, output, options.Tls, cancellationToken).ConfigureAwait(false) ? OptionStep.Continue : OptionStep.Close;

            case NbdOption.ExportName:
                return OptionStep.End(await ExportNameAsync(data, noZeroes, output, cancellationToken).ConfigureAwait(false));

            case NbdOption.Abort:
                await ReplyAsync(output, option, NbdOptionReplyType.Ack, [], cancellationToken).ConfigureAwait(false);
                return OptionStep.Close;

            case NbdOption.List:
                await ListAsync(data, output, cancellationToken).ConfigureAwait(false);
                return OptionStep.Continue;

            case NbdOption.Info or NbdOption.Go:
                var session = await InfoAsync(option, data, output, cancellationToken).ConfigureAwait(false);
                return session is not null && option == NbdOption.Go ? OptionStep.End(session) : OptionStep.Continue;

            case NbdOption.StructuredReply when options.AllowStructuredReplies:
                await StructuredRepliesAsync(data, output, cancellationToken).ConfigureAwait(false);
                return OptionStep.Continue;

            default:
                await RefuseAsync(output, option, NbdOptionReplyType.ErrorUnsupported, $"option {(uint)option} is not supported", cancellationToken).ConfigureAwait(false);
                return OptionStep.Continue;
        }
    }

    private async Task StructuredRepliesAsync(byte[] data, Stream output, CancellationToken cancellationToken)
    {
        if (data.Length != 0)
        {
            await RefuseAsync(output, NbdOption.StructuredReply, NbdOptionReplyType.ErrorInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data", cancellationToken).ConfigureAwait(false);
            return;
        }

        _structuredReplies = true;
        await ReplyAsync(output, NbdOption.StructuredReply, NbdOptionReplyType.Ack, [], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Answers an option sent before TLS with NBD_REP_ERR_TLS_REQD, or closes where the protocol allows no error.</summary>
    private async Task<OptionStep> RequireTlsAsync(NbdOption option, Stream output, CancellationToken cancellationToken)
    {
        if (option == NbdOption.ExportName)
        {
            // NBD_OPT_EXPORT_NAME cannot carry an error: the protocol says to hang up.
            NbdLog.HandshakeViolation(logger, remote, "NBD_OPT_EXPORT_NAME without TLS");
            return OptionStep.Close;
        }

        await RefuseAsync(output, option, NbdOptionReplyType.ErrorTlsRequired, "TLS is required: send NBD_OPT_STARTTLS first", cancellationToken).ConfigureAwait(false);
        return OptionStep.Continue;
    }

    /// <summary>Agrees to NBD_OPT_STARTTLS and runs the TLS handshake; false when the connection must close.</summary>
    private async Task<bool> StartTlsAsync(byte[] data, PipeReader reader, Stream output, NbdTls tls, CancellationToken cancellationToken)
    {
        if (_identity is not null || data.Length != 0)
        {
            string reason = data.Length != 0 ? "NBD_OPT_STARTTLS takes no data" : "TLS is already running";
            await RefuseAsync(output, NbdOption.StartTls, NbdOptionReplyType.ErrorInvalid, reason, cancellationToken).ConfigureAwait(false);
            return true;
        }

        var transport = output as StartTlsStream ?? throw new InvalidOperationException("The connection's stream cannot switch to TLS.");
        await ReplyAsync(output, NbdOption.StartTls, NbdOptionReplyType.Ack, [], cancellationToken).ConfigureAwait(false);
        if (reader.TryRead(out var early))
        {
            // Bytes sent before our ACK would be read as if they had come through TLS: an injection, never trusted.
            bool injected = early.Buffer.Length > 0;
            reader.AdvanceTo(early.Buffer.Start);
            if (injected)
            {
                NbdLog.HandshakeViolation(logger, remote, "data sent after NBD_OPT_STARTTLS before the TLS handshake");
                return false;
            }
        }

        try
        {
            _identity = await transport.StartServerAsync(tls, cancellationToken).ConfigureAwait(false);
        }
        catch (AuthenticationException e)
        {
            NbdTlsLog.Refused(logger, remote, e.InnerException?.Message ?? e.Message);
            return false;
        }

        if (_identity is null)
        {
            NbdTlsLog.Refused(logger, remote, "the client has no usable identity (a certificate needs a single subject CN)");
            return false;
        }

        NbdTlsLog.Established(logger, remote, _identity);
        return true;
    }

    /// <summary>The export named <paramref name="name"/> if it exists and this client may use it.</summary>
    private bool TryOpen(string name, [NotNullWhen(true)] out INbdExport? export)
    {
        if (!exports.TryGet(name, out export))
        {
            return false;
        }

        if (Allowed(name))
        {
            return true;
        }

        NbdTlsLog.ExportDenied(logger, remote, _identity!, name);
        export = null;
        return false;
    }

    private bool Allowed(string name) => _identity is null || options.ExportAccess is null || options.ExportAccess(name, _identity);

    private async Task<NbdSession?> ExportNameAsync(byte[] data, bool noZeroes, Stream output, CancellationToken cancellationToken)
    {
        string name = Encoding.UTF8.GetString(data);
        if (!TryOpen(name, out var export))
        {
            // NBD_OPT_EXPORT_NAME cannot carry an error: the protocol says to hang up.
            NbdLog.HandshakeViolation(logger, remote, $"NBD_OPT_EXPORT_NAME for unknown export '{name}'");
            return null;
        }

        // Structured replies may have been negotiated before EXPORT_NAME as well.
        var session = new NbdSession(export, FlagsFor(export), _structuredReplies);
        byte[] reply = new byte[10 + (noZeroes ? 0 : NbdMagic.ExportNamePadding)];
        BinaryPrimitives.WriteUInt64BigEndian(reply, (ulong)export.Size);
        BinaryPrimitives.WriteUInt16BigEndian(reply.AsSpan(8), (ushort)session.Flags);
        await output.WriteAsync(reply, cancellationToken).ConfigureAwait(false);
        return session;
    }

    private async Task ListAsync(byte[] data, Stream output, CancellationToken cancellationToken)
    {
        if (data.Length != 0)
        {
            await RefuseAsync(output, NbdOption.List, NbdOptionReplyType.ErrorInvalid, "NBD_OPT_LIST takes no data", cancellationToken).ConfigureAwait(false);
            return;
        }

        foreach (var export in exports.List().Where(e => Allowed(e.Name)))
        {
            int nameLength = Encoding.UTF8.GetByteCount(export.Name);
            byte[] entry = new byte[4 + nameLength + Encoding.UTF8.GetByteCount(export.Description ?? string.Empty)];
            BinaryPrimitives.WriteUInt32BigEndian(entry, (uint)nameLength);
            Encoding.UTF8.GetBytes(export.Name, entry.AsSpan(4));
            Encoding.UTF8.GetBytes(export.Description ?? string.Empty, entry.AsSpan(4 + nameLength));
            await ReplyAsync(output, NbdOption.List, NbdOptionReplyType.Server, entry, cancellationToken).ConfigureAwait(false);
        }

        await ReplyAsync(output, NbdOption.List, NbdOptionReplyType.Ack, [], cancellationToken).ConfigureAwait(false);
    }

    private async Task<NbdSession?> InfoAsync(NbdOption option, byte[] data, Stream output, CancellationToken cancellationToken)
    {
        if (!NbdOptionCodec.TryParseInfoRequest(data, out string name, out var requests))
        {
            await RefuseAsync(output, option, NbdOptionReplyType.ErrorInvalid, "malformed info request", cancellationToken).ConfigureAwait(false);
            return null;
        }

        // A forbidden export is answered like a missing one: its name is not confirmed to a stranger.
        if (!TryOpen(name, out var export))
        {
            await RefuseAsync(output, option, NbdOptionReplyType.ErrorUnknown, $"no export named '{name}'", cancellationToken).ConfigureAwait(false);
            return null;
        }

        var session = new NbdSession(export, FlagsFor(export), _structuredReplies);

        byte[] info = new byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(info, (ushort)NbdInfoType.Export);
        BinaryPrimitives.WriteUInt64BigEndian(info.AsSpan(2), (ulong)export.Size);
        BinaryPrimitives.WriteUInt16BigEndian(info.AsSpan(10), (ushort)session.Flags);
        await ReplyAsync(output, option, NbdOptionReplyType.Info, info, cancellationToken).ConfigureAwait(false);

        // Block sizes are always sent: minimum 1 tells the client no alignment is needed.
        byte[] blockSize = new byte[14];
        BinaryPrimitives.WriteUInt16BigEndian(blockSize, (ushort)NbdInfoType.BlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(blockSize.AsSpan(2), 1);
        BinaryPrimitives.WriteUInt32BigEndian(blockSize.AsSpan(6), (uint)options.PreferredBlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(blockSize.AsSpan(10), (uint)options.MaxPayloadLength);
        await ReplyAsync(output, option, NbdOptionReplyType.Info, blockSize, cancellationToken).ConfigureAwait(false);

        if (requests.Contains(NbdInfoType.Name))
        {
            await ReplyAsync(output, option, NbdOptionReplyType.Info, InfoString(NbdInfoType.Name, export.Name), cancellationToken).ConfigureAwait(false);
        }

        if (requests.Contains(NbdInfoType.Description) && export.Description is not null)
        {
            await ReplyAsync(output, option, NbdOptionReplyType.Info, InfoString(NbdInfoType.Description, export.Description), cancellationToken).ConfigureAwait(false);
        }

        await ReplyAsync(output, option, NbdOptionReplyType.Ack, [], cancellationToken).ConfigureAwait(false);
        return session;
    }

    private NbdTransmissionFlags FlagsFor(INbdExport export)
    {
        var flags = NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.SendFlush | NbdTransmissionFlags.SendFua | NbdTransmissionFlags.CanMultiConn;
        flags |= export.IsReadOnly
            ? NbdTransmissionFlags.ReadOnly
            : NbdTransmissionFlags.SendTrim | NbdTransmissionFlags.SendWriteZeroes;

        if (_structuredReplies)
        {
            // Every read is answered in one chunk, so "don't fragment" is always honoured.
            flags |= NbdTransmissionFlags.SendDf;
        }

        return flags;
    }

    private static byte[] InfoString(NbdInfoType type, string text)
    {
        byte[] bytes = new byte[2 + Encoding.UTF8.GetByteCount(text)];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)type);
        Encoding.UTF8.GetBytes(text, bytes.AsSpan(2));
        return bytes;
    }

    private Task RefuseAsync(Stream output, NbdOption option, NbdOptionReplyType type, string reason, CancellationToken cancellationToken)
    {
        NbdLog.OptionRefused(logger, remote, option, type, reason);
        return ReplyAsync(output, option, type, Encoding.UTF8.GetBytes(reason), cancellationToken);
    }

    private static async Task ReplyAsync(Stream output, NbdOption option, NbdOptionReplyType type, byte[] data, CancellationToken cancellationToken) =>
        await output.WriteAsync(NbdOptionCodec.BuildReply(option, type, data), cancellationToken).ConfigureAwait(false);

    /// <summary>What follows an option: more haggling, or the end of the handshake with a session (null: close).</summary>
    private readonly record struct OptionStep(bool Ends, NbdSession? Session)
    {
        public static readonly OptionStep Continue = new(false, null);
        public static readonly OptionStep Close = new(true, null);

        public static OptionStep End(NbdSession? session) => new(true, session);
    }
}
