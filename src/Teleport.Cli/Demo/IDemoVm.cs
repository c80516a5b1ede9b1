namespace Teleport.Cli.Demo;

/// <summary>The demo's VM, whichever it is: it writes <c>WorkloadRecord</c>s into the window at the start of its disk.</summary>
public interface IDemoVm : IAsyncDisposable
{
    /// <summary>"in-process" (<see cref="WritingVm"/>) or "qemu" (<see cref="QemuGuest"/>).</summary>
    string Kind { get; }

    /// <summary>The run id in every record, so records of another run count as corrupt.</summary>
    ulong RunId { get; }

    /// <summary>Records the VM knows were acknowledged (for the guest: the last it reported, so possibly one fewer than on disk).</summary>
    long RecordsWritten { get; }

    /// <summary>True when <see cref="RecordsWritten"/> is exact; the guest's count may trail the disk by the record it had not reported yet.</summary>
    bool ExactCount { get; }

    /// <summary>The longest time between two acknowledged writes: what the VM felt of the cut-over.</summary>
    TimeSpan LongestGap { get; }

    /// <summary>Why the VM stopped writing early, or null.</summary>
    string? Failure { get; }

    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Waits until at least <paramref name="records"/> records are written, the VM has no more to write, or it failed.</summary>
    Task WaitForRecordsAsync(long records, CancellationToken cancellationToken);

    /// <summary>Stops writing with nothing in flight; returns <see cref="RecordsWritten"/>.</summary>
    Task<long> StopAsync();
}
