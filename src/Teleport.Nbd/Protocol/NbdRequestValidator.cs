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
        return request.Command switch
        {
            NbdCommand.Disconnect => new NbdValidation(NbdRequestDisposition.Disconnect, NbdError.None, null),
            NbdCommand.Read => ValidateRead(request, exportSize, advertised, maxPayload),
            NbdCommand.Write => ValidateWrite(request, exportSize, readOnly, maxPayload),
            NbdCommand.Flush => ValidateFlush(request, advertised),
            NbdCommand.Trim => Advertised(advertised, NbdTransmissionFlags.SendTrim, "trim")
                ?? ValidateErase(request, exportSize, readOnly, NbdCommandFlags.Fua, NbdError.InvalidArgument),
            NbdCommand.WriteZeroes => Advertised(advertised, NbdTransmissionFlags.SendWriteZeroes, "write-zeroes")
                ?? ValidateErase(request, exportSize, readOnly, NbdCommandFlags.Fua | NbdCommandFlags.NoHole, NbdError.NoSpace),
            _ => NbdValidation.Reject(NbdError.InvalidArgument, $"unsupported command {(ushort)request.Command}"),
        };
    }

    private static NbdValidation ValidateRead(in NbdRequest request, long exportSize, NbdTransmissionFlags advertised, int maxPayload)
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

    private static NbdValidation ValidateWrite(in NbdRequest request, long exportSize, bool readOnly, int maxPayload)
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

    private static NbdValidation ValidateFlush(in NbdRequest request, NbdTransmissionFlags advertised)
    {
        if (Advertised(advertised, NbdTransmissionFlags.SendFlush, "flush") is { } notAdvertised)
        {
            return notAdvertised;
        }

        return request.Offset != 0 || request.Length != 0
            ? NbdValidation.Reject(NbdError.InvalidArgument, "flush offset and length must be zero")
            : CheckFlags(request, NbdCommandFlags.Fua) ?? NbdValidation.Ok;
    }

    // Trim and write-zeroes carry no payload, so their length is bounded by the export, not by the payload limit.
    private static NbdValidation ValidateErase(in NbdRequest request, long exportSize, bool readOnly, NbdCommandFlags allowed, NbdError beyondEnd) =>
        CheckFlags(request, allowed)
            ?? CheckWritable(readOnly)
            ?? CheckLength(request, int.MaxValue)
            ?? CheckRange(request, exportSize, beyondEnd)
            ?? NbdValidation.Ok;

    private static NbdValidation? Advertised(NbdTransmissionFlags advertised, NbdTransmissionFlags flag, string command) =>
        (advertised & flag) == 0 ? NbdValidation.Reject(NbdError.InvalidArgument, $"{command} not advertised") : null;

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
