namespace Teleport.Nbd.Protocol;

/// <summary>
/// Checks a request header against the export and what was negotiated, before any I/O.
/// Pure: no state, no I/O, so every rule is unit-testable.
/// </summary>
public static class NbdRequestValidator
{
    /// <param name="request">The header as parsed.</param>
    /// <param name="exportSize">Export size in bytes.</param>
    /// <param name="advertised">Transmission flags sent to this client.</param>
    /// <param name="maxPayload">Largest READ/WRITE length the server accepts.</param>
    public static NbdValidation Validate(in NbdRequest request, long exportSize, NbdTransmissionFlags advertised, int maxPayload)
    {
        bool readOnly = (advertised & NbdTransmissionFlags.ReadOnly) != 0;
        switch (request.Command)
        {
            case NbdCommand.Disconnect:
                return new NbdValidation(NbdRequestDisposition.Disconnect, NbdError.None, null);

            case NbdCommand.Read:
            {
                var allowed = NbdCommandFlags.Fua;
                if ((advertised & NbdTransmissionFlags.SendDf) != 0)
                {
                    allowed |= NbdCommandFlags.DontFragment;
                }

                return CheckFlags(request, allowed)
                    ?? CheckLength(request, maxPayload)
                    ?? CheckRange(request, exportSize, NbdError.InvalidArgument)
                    ?? NbdValidation.Ok;
            }

            case NbdCommand.Write:
            {
                if (request.Length > (uint)maxPayload)
                {
                    // The payload that follows cannot be skipped safely: answer and hang up.
                    return new NbdValidation(NbdRequestDisposition.RejectAndClose, NbdError.InvalidArgument,
                        $"write of {request.Length} bytes exceeds the {maxPayload} byte limit");
                }

                return CheckFlags(request, NbdCommandFlags.Fua)
                    ?? CheckWritable(readOnly)
                    ?? CheckLength(request, maxPayload)
                    ?? CheckRange(request, exportSize, NbdError.NoSpace)
                    ?? NbdValidation.Ok;
            }

            case NbdCommand.Flush:
                if ((advertised & NbdTransmissionFlags.SendFlush) == 0)
                {
                    return NbdValidation.Reject(NbdError.InvalidArgument, "flush not advertised");
                }

                if (request.Offset != 0 || request.Length != 0)
                {
                    return NbdValidation.Reject(NbdError.InvalidArgument, "flush offset and length must be zero");
                }

                return CheckFlags(request, NbdCommandFlags.Fua) ?? NbdValidation.Ok;

            case NbdCommand.Trim:
                if ((advertised & NbdTransmissionFlags.SendTrim) == 0)
                {
                    return NbdValidation.Reject(NbdError.InvalidArgument, "trim not advertised");
                }

                return CheckFlags(request, NbdCommandFlags.Fua)
                    ?? CheckWritable(readOnly)
                    ?? CheckLength(request, int.MaxValue)
                    ?? CheckRange(request, exportSize, NbdError.InvalidArgument)
                    ?? NbdValidation.Ok;

            case NbdCommand.WriteZeroes:
                if ((advertised & NbdTransmissionFlags.SendWriteZeroes) == 0)
                {
                    return NbdValidation.Reject(NbdError.InvalidArgument, "write-zeroes not advertised");
                }

                return CheckFlags(request, NbdCommandFlags.Fua | NbdCommandFlags.NoHole)
                    ?? CheckWritable(readOnly)
                    ?? CheckLength(request, int.MaxValue)
                    ?? CheckRange(request, exportSize, NbdError.NoSpace)
                    ?? NbdValidation.Ok;

            default:
                return NbdValidation.Reject(NbdError.InvalidArgument, $"unsupported command {(ushort)request.Command}");
        }
    }

    private static NbdValidation? CheckFlags(in NbdRequest request, NbdCommandFlags allowed) =>
        (request.Flags & ~allowed) != 0
            ? NbdValidation.Reject(NbdError.InvalidArgument, $"flags 0x{(ushort)request.Flags:x} not valid for {request.Command}")
            : null;

    private static NbdValidation? CheckWritable(bool readOnly) =>
        readOnly ? NbdValidation.Reject(NbdError.NotPermitted, "export is read-only") : null;

    private static NbdValidation? CheckLength(in NbdRequest request, int max)
    {
        if (request.Length == 0)
        {
            return NbdValidation.Reject(NbdError.InvalidArgument, "zero length");
        }

        return request.Length > (uint)max
            ? NbdValidation.Reject(NbdError.InvalidArgument, $"length {request.Length} exceeds the {max} byte limit")
            : null;
    }

    private static NbdValidation? CheckRange(in NbdRequest request, long exportSize, NbdError error) =>
        request.Offset > (ulong)exportSize || request.Length > (ulong)exportSize - request.Offset
            ? NbdValidation.Reject(error, $"range {request.Offset}+{request.Length} beyond export size {exportSize}")
            : null;
}
