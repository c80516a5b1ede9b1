using Microsoft.Win32.SafeHandles;
using Teleport.Host.Workload;

namespace Teleport.Cli.Demo;

/// <summary>What the demo checked on the destination volume after the migration.</summary>
public sealed record DemoVerification(WorkloadReport Workload, long RecordsWritten, bool ExactCount, bool? RestMatchesSource)
{
    /// <summary>
    /// Every record the VM wrote is on the destination, in order and intact, and nothing beyond them (the guest may
    /// have written one more record than it reported before it was stopped).
    /// </summary>
    public bool RecordsIntact =>
        Workload.IsIntact && Workload.ValidRecords == Workload.HighestSequence + 1
        && (ExactCount ? Workload.ValidRecords == RecordsWritten : Workload.ValidRecords - RecordsWritten is 0 or 1);

    public long RecordsVerified => Workload.IsIntact ? Workload.ValidRecords : 0;

    public bool Passed => RecordsIntact && RestMatchesSource != false;

    /// <summary>
    /// Checks a volume: the VM's window with <see cref="WorkloadVerifier"/>, and, when it is not the source itself,
    /// every block outside the window (which nobody wrote) against the source volume (else <see cref="RestMatchesSource"/> is null).
    /// </summary>
    public static async Task<DemoVerification> CheckAsync(DemoLayout layout, string destinationPath, long recordsWritten, bool exactCount, ulong runId,
        CancellationToken cancellationToken)
    {
        WorkloadReport workload;
        await using (var window = new FileWindowStream(destinationPath, layout.WindowOffset, layout.WindowBytes))
            workload = await WorkloadVerifier.VerifyAsync(window, runId, cancellationToken).ConfigureAwait(false);
        long restOffset = layout.WindowOffset + layout.WindowBytes;
        bool? same = Path.GetFullPath(destinationPath) == Path.GetFullPath(layout.VolumePath)
            ? null
            : await SameRangeAsync(layout.VolumePath, destinationPath, restOffset, layout.VolumeBytes - restOffset, cancellationToken).ConfigureAwait(false);
        return new DemoVerification(workload, recordsWritten, exactCount, same);
    }

    private static async Task<bool> SameRangeAsync(string a, string b, long offset, long length, CancellationToken cancellationToken)
    {
        using var first = File.OpenHandle(a, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.Asynchronous);
        using var second = File.OpenHandle(b, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.Asynchronous);
        if (RandomAccess.GetLength(first) != RandomAccess.GetLength(second))
            return false;
        byte[] x = new byte[1 << 20];
        byte[] y = new byte[1 << 20];
        for (long at = offset; at < offset + length;)
        {
            int want = (int)Math.Min(x.Length, offset + length - at);
            int read = await ReadFullAsync(first, x.AsMemory(0, want), at, cancellationToken).ConfigureAwait(false);
            if (read != want || await ReadFullAsync(second, y.AsMemory(0, want), at, cancellationToken).ConfigureAwait(false) != want)
                return false;
            if (!x.AsSpan(0, want).SequenceEqual(y.AsSpan(0, want)))
                return false;
            at += want;
        }

        return true;
    }

    private static async Task<int> ReadFullAsync(SafeFileHandle file, Memory<byte> buffer, long offset, CancellationToken cancellationToken)
    {
        int filled = 0;
        while (filled < buffer.Length)
        {
            int read = await RandomAccess.ReadAsync(file, buffer[filled..], offset + filled, cancellationToken).ConfigureAwait(false);
            if (read == 0)
                break;
            filled += read;
        }

        return filled;
    }
}
