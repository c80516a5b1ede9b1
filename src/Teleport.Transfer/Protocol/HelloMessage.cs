namespace Teleport.Transfer.Protocol;

/// <summary>Source -> destination, first frame: magic, version range, migration, source session, nonce, volume geometry.</summary>
internal readonly record struct HelloMessage(
    ushort MinVersion, ushort MaxVersion, Guid MigrationId, Guid SourceSessionId, byte[] Nonce, long VolumeSize, int BlockSize)
{
    public const int Size = 4 + 2 + 2 + 16 + 16 + ProtocolConstants.NonceSize + 8 + 4;

    public static HelloMessage Parse(ReadOnlySpan<byte> payload)
    {
        var r = new PayloadReader(payload, MessageType.Hello);
        if (payload.Length < 4 || r.U32() != ProtocolConstants.Magic)
            throw new TransferException(TransferErrorCode.BadFrame, "first frame is not a Teleport Hello (bad magic): the peer speaks another protocol");
        ushort min = r.U16(), max = r.U16();
        var migration = r.Guid();
        var session = r.Guid();
        byte[] nonce = r.Bytes(ProtocolConstants.NonceSize).ToArray();
        long size = r.Count64();
        uint blockSize = r.U32();
        r.End();
        if (min > max)
            throw new TransferException(TransferErrorCode.BadFrame, $"Hello version range {min}..{max} is empty");
        if (blockSize > int.MaxValue)
            throw new TransferException(TransferErrorCode.VolumeMismatch, $"block size {blockSize} is not allowed");
        return new HelloMessage(min, max, migration, session, nonce, size, (int)blockSize);
    }

    public int Write(Span<byte> payload)
    {
        var w = new PayloadWriter(payload);
        w.U32(ProtocolConstants.Magic);
        w.U16(MinVersion);
        w.U16(MaxVersion);
        w.Guid(MigrationId);
        w.Guid(SourceSessionId);
        w.Bytes(Nonce);
        w.U64((ulong)VolumeSize);
        w.U32((uint)BlockSize);
        return w.Written;
    }
}
