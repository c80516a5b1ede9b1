using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Tests;

public sealed class NbdRequestValidatorTests
{
    private const long Size = 1 << 20;
    private const int Max = 32 << 20;
    private const NbdTransmissionFlags ReadWrite = NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.SendFlush | NbdTransmissionFlags.SendFua
        | NbdTransmissionFlags.SendTrim | NbdTransmissionFlags.SendWriteZeroes;

    [Theory]
    [InlineData(NbdCommand.Read, 0ul, 4096u, NbdCommandFlags.None, NbdRequestDisposition.Execute, NbdError.None)]
    [InlineData(NbdCommand.Read, Size - 1, 1u, NbdCommandFlags.Fua, NbdRequestDisposition.Execute, NbdError.None)]
    [InlineData(NbdCommand.Read, Size - 1, 2u, NbdCommandFlags.None, NbdRequestDisposition.Reject, NbdError.InvalidArgument)]
    [InlineData(NbdCommand.Read, ulong.MaxValue, 2u, NbdCommandFlags.None, NbdRequestDisposition.Reject, NbdError.InvalidArgument)]
    [InlineData(NbdCommand.Read, 0ul, 0u, NbdCommandFlags.None, NbdRequestDisposition.Reject, NbdError.InvalidArgument)]
    [InlineData(NbdCommand.Read, 0ul, (uint)Max + 1, NbdCommandFlags.None, NbdRequestDisposition.Reject, NbdError.InvalidArgument)]
    [InlineData(NbdCommand.Read, 0ul, 512u, NbdCommandFlags.DontFragment, NbdRequestDisposition.Reject, NbdError.InvalidArgument)]
    [InlineData(NbdCommand.Write, 0ul, 4096u, NbdCommandFlags.Fua, NbdRequestDisposition.Execute, NbdError.None)]
    [InlineData(NbdCommand.Write, Size, 1u, NbdCommandFlags.None, NbdRequestDisposition.Reject, NbdError.NoSpace)]
    [InlineData(NbdCommand.Write, 0ul, (uint)Max + 1, NbdCommandFlags.None, NbdRequestDisposition.RejectAndClose, NbdError.InvalidArgument)]
    [InlineData(NbdCommand.Write, 0ul, 16u, NbdCommandFlags.NoHole, NbdRequestDisposition.Reject, NbdError.InvalidArgument)]
    [InlineData(NbdCommand.Flush, 0ul, 0u, NbdCommandFlags.None, NbdRequestDisposition.Execute, NbdError.None)]
    [InlineData(NbdCommand.Flush, 0ul, 1u, NbdCommandFlags.None, NbdRequestDisposition.Reject, NbdError.InvalidArgument)]
    [InlineData(NbdCommand.Trim, 0ul, (uint)Size, NbdCommandFlags.Fua, NbdRequestDisposition.Execute, NbdError.None)]
    [InlineData(NbdCommand.Trim, 1ul, (uint)Size, NbdCommandFlags.None, NbdRequestDisposition.Reject, NbdError.InvalidArgument)]
    [InlineData(NbdCommand.WriteZeroes, 0ul, (uint)Size, NbdCommandFlags.NoHole | NbdCommandFlags.Fua, NbdRequestDisposition.Execute, NbdError.None)]
    [InlineData(NbdCommand.WriteZeroes, 0ul, 1u, NbdCommandFlags.FastZero, NbdRequestDisposition.Reject, NbdError.InvalidArgument)]
    [InlineData(NbdCommand.WriteZeroes, Size, 1u, NbdCommandFlags.None, NbdRequestDisposition.Reject, NbdError.NoSpace)]
    [InlineData(NbdCommand.Disconnect, 0ul, 0u, NbdCommandFlags.None, NbdRequestDisposition.Disconnect, NbdError.None)]
    [InlineData(NbdCommand.Cache, 0ul, 1u, NbdCommandFlags.None, NbdRequestDisposition.Reject, NbdError.InvalidArgument)]
    [InlineData((NbdCommand)99, 0ul, 0u, NbdCommandFlags.None, NbdRequestDisposition.Reject, NbdError.InvalidArgument)]
    public void ReadWriteExport(NbdCommand command, ulong offset, uint length, NbdCommandFlags flags, NbdRequestDisposition disposition, NbdError error)
    {
        var verdict = NbdRequestValidator.Validate(new NbdRequest(flags, command, 1, offset, length), Size, ReadWrite, Max);
        Assert.Equal(disposition, verdict.Disposition);
        Assert.Equal(error, verdict.Error);
        Assert.Equal(disposition is NbdRequestDisposition.Execute or NbdRequestDisposition.Disconnect, verdict.Reason is null);
    }

    [Theory]
    [InlineData(NbdCommand.Write, NbdError.NotPermitted)]
    [InlineData(NbdCommand.Trim, NbdError.InvalidArgument)]
    [InlineData(NbdCommand.WriteZeroes, NbdError.InvalidArgument)]
    public void ReadOnlyExport_RefusesModifications(NbdCommand command, NbdError error)
    {
        const NbdTransmissionFlags readOnly = NbdTransmissionFlags.HasFlags | NbdTransmissionFlags.ReadOnly | NbdTransmissionFlags.SendFlush;
        var verdict = NbdRequestValidator.Validate(new NbdRequest(NbdCommandFlags.None, command, 1, 0, 512), Size, readOnly, Max);
        Assert.Equal((NbdRequestDisposition.Reject, error), (verdict.Disposition, verdict.Error));
    }

    [Fact]
    public void WriteToReadOnlyExport_IsEperm_EvenWhenTrimWasAdvertised()
    {
        var verdict = NbdRequestValidator.Validate(new NbdRequest(NbdCommandFlags.None, NbdCommand.Trim, 1, 0, 512), Size,
            ReadWrite | NbdTransmissionFlags.ReadOnly, Max);
        Assert.Equal(NbdError.NotPermitted, verdict.Error);
    }

    [Fact]
    public void DontFragment_IsAccepted_WhenAdvertised()
    {
        var verdict = NbdRequestValidator.Validate(new NbdRequest(NbdCommandFlags.DontFragment, NbdCommand.Read, 1, 0, 512), Size,
            ReadWrite | NbdTransmissionFlags.SendDf, Max);
        Assert.Equal(NbdRequestDisposition.Execute, verdict.Disposition);
    }
}
