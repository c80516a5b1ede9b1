using Teleport.Blocks;
using Teleport.Transfer.Protocol;

namespace Teleport.Transfer;

/// <summary>
/// Applies Data frames to the volume: checks the sequence number and the index cursor, decompresses the connection's
/// zstd stream, writes every run, fingerprints each block (adding it to the local index of any block size, when there is
/// one), and lets the resolver fill the blocks that waited for its content.
/// </summary>
internal sealed class DataFrameApplier(CheckpointedVolume volume, IndexResolver resolver, RequestPlanner requests, DestinationStatistics stats,
    BlockIndex? index, string volumeFullPath) : IDisposable
{
    private readonly VolumeGeometry _geometry = volume.Geometry;
    private readonly List<DataRun> _runs = new(ProtocolConstants.MaxRunsPerBatch);
    private readonly byte[] _raw = new byte[ProtocolConstants.MaxBatchBytes];
    private readonly byte[] _block = new byte[volume.Geometry.BlockSize];
    private StreamDecompressor? _decoder;

    /// <summary>A new connection starts a new zstd stream.</summary>
    public void StartConnection()
    {
        _decoder?.Dispose();
        _decoder = new StreamDecompressor();
    }

    public void Apply(ReadOnlySpan<byte> payload, byte flags)
    {
        var raw = Validate(payload, flags, out long seq);
        // Everything is validated; from here on the frame is applied.
        int position = 0;
        foreach (var run in _runs)
        {
            long bytes = _geometry.RunBytes(run.Start, run.Count);
            if (run.Zero)
            {
                ApplyZeroRun(run, bytes);
            }
            else
            {
                ApplyDataRun(run, raw.Slice(position, (int)bytes));
                position += (int)bytes;
            }

            stats.BlocksReceived += run.Count;
            volume.Written(bytes);
        }

        volume.LastSeq = seq;
    }

    /// <summary>Parses the frame into the runs and returns the raw block bytes (decompressed when flagged).</summary>
    private ReadOnlySpan<byte> Validate(ReadOnlySpan<byte> payload, byte flags, out long seq)
    {
        _runs.Clear();
        var body = DataMessage.Parse(payload, flags, _geometry, _runs, out seq, out int rawLength);
        if (seq <= volume.LastSeq)
            throw new TransferException(TransferErrorCode.OutOfRange, $"Data sequence number {seq} is not above the last applied {volume.LastSeq}");
        var state = volume.State;
        if (state.Phase == DestinationPhase.Index && UnrequestedAhead(state.IndexCursor) is { } block)
            throw new TransferException(TransferErrorCode.UnexpectedMessage,
                $"Data for block {block} before the index reached it (cursor {state.IndexCursor}) and never requested");
        if ((flags & ProtocolConstants.FlagCompressed) == 0)
            return body;
        var raw = _raw.AsSpan(0, rawLength);
        _decoder!.Decompress(body, raw);
        return raw;
    }

    /// <summary>
    /// A block of the frame past the index cursor that was not requested (requests run ahead of the resolution: a
    /// connection lost meanwhile leaves the source with some), or null.
    /// </summary>
    private long? UnrequestedAhead(long cursor)
    {
        foreach (var run in _runs)
        {
            for (long b = Math.Max(run.Start, cursor); b < run.Start + run.Count; b++)
            {
                if (!requests.IsRequested(b))
                    return b;
            }
        }

        return null;
    }

    private void ApplyZeroRun(DataRun run, long bytes)
    {
        volume.WriteZeros(_geometry.Offset(run.Start), bytes);
        for (long b = run.Start; b < run.Start + run.Count; b++)
            resolver.Received(b, volume.Zero, ReadOnlySpan<byte>.Empty);
    }

    private void ApplyDataRun(DataRun run, ReadOnlySpan<byte> data)
    {
        volume.Write(data, _geometry.Offset(run.Start));
        int at = 0;
        for (long b = run.Start; b < run.Start + run.Count; b++)
        {
            var blockData = data.Slice(at, _geometry.BlockLength(b));
            var fingerprint = Fingerprint.ComputePadded(blockData, _block);
            index?.Add(fingerprint, volumeFullPath, b);
            resolver.Received(b, fingerprint, blockData);
            at += blockData.Length;
        }
    }

    public void Dispose() => _decoder?.Dispose();
}
