using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using Teleport.Host.Hypervisor;
using Teleport.Host.Workload;
using Teleport.Nbd.Client;

namespace Teleport.Cli.Demo;

/// <summary>
/// The demo's VM: an in-process writer behind <see cref="IHypervisor"/>. Like the QEMU test guest's workload it
/// writes numbered, checksummed records (<see cref="WorkloadRecord"/>: record N at N*4096 of its window, payload
/// from N and the run id) through the host's path switcher with an NBD client, one at a time and paced, so
/// <see cref="WorkloadVerifier"/> can check the destination afterwards. Pausing stops issuing writes and returns
/// once the write in flight has been acknowledged; resuming carries on with the next record.
/// </summary>
public sealed class WritingVm : IHypervisor, IDemoVm
{
    private readonly EndPoint _disk;
    private readonly string _exportName;
    private readonly long _windowOffset;
    private readonly long _windowRecords;
    private readonly TimeSpan _interval;
    private readonly ulong _runId;
    // Held by the writer while a write is in flight, and by a pause for as long as the VM is paused.
    private readonly SemaphoreSlim _running = new(1, 1);
    private readonly SemaphoreSlim _control = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private NbdClient? _client;
    private Task _loop = Task.CompletedTask;
    private bool _paused;
    private long _written;
    private long _longestGapTicks;
    private volatile Exception? _failure;
    private int _disposed;

    public WritingVm(EndPoint disk, string exportName, long windowOffset, long windowRecords, double recordsPerSecond, ulong runId)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(windowOffset);
        ArgumentOutOfRangeException.ThrowIfLessThan(windowRecords, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(recordsPerSecond, 0);
        _disk = disk;
        _exportName = exportName;
        _windowOffset = windowOffset;
        _windowRecords = windowRecords;
        _interval = TimeSpan.FromSeconds(1 / recordsPerSecond);
        _runId = runId;
    }

    public event Action<VmStateChange>? StateChanged;

    public string Kind => "in-process";

    public ulong RunId => _runId;

    public bool ExactCount => true;

    /// <summary>Records acknowledged by the disk (records 0 .. RecordsWritten-1).</summary>
    public long RecordsWritten => Interlocked.Read(ref _written);

    /// <summary>The longest time between two acknowledged writes: what the VM felt of the cut-over.</summary>
    public TimeSpan LongestGap => TimeSpan.FromTicks(Interlocked.Read(ref _longestGapTicks));

    /// <summary>The window is full: the VM has nothing left to write.</summary>
    public bool IsFull => RecordsWritten >= _windowRecords;

    /// <summary>Why the writer stopped early (a failed write), or null.</summary>
    public string? Failure => _failure is { } e ? $"a write failed: {e.Message}" : null;

    /// <summary>Connects to the VM's disk (the path switcher) and starts writing.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _client = await NbdClient.ConnectAsync(_disk, _exportName, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (_client.Size < _windowOffset + _windowRecords * WorkloadRecord.Size)
            throw new InvalidOperationException($"the VM's disk has {_client.Size} bytes, too small for its write window");
        _loop = Task.Run(() => WriteLoopAsync(_client, _stop.Token), CancellationToken.None);
    }

    /// <summary>Waits until at least <paramref name="records"/> records are written, the window is full or the writer failed.</summary>
    public async Task WaitForRecordsAsync(long records, CancellationToken cancellationToken)
    {
        while (RecordsWritten < records && !IsFull && _failure is null && !_loop.IsCompleted)
            await Task.Delay(10, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops writing (the write in flight completes) and disconnects; returns the records written.</summary>
    public async Task<long> StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        if (_client is not null)
            await _client.DisposeAsync().ConfigureAwait(false);
        _client = null;
        return RecordsWritten;
    }

    public Task<VmStatus> QueryStatusAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult(Volatile.Read(ref _paused) ? new VmStatus(false, "paused") : new VmStatus(true, "running"));

    public async Task PauseAsync(CancellationToken cancellationToken = default)
    {
        await _control.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_paused)
                return;
            await _running.WaitAsync(cancellationToken).ConfigureAwait(false);
            Volatile.Write(ref _paused, true);
        }
        finally
        {
            _control.Release();
        }

        StateChanged?.Invoke(new VmStateChange(false, DateTimeOffset.UtcNow));
    }

    public async Task ResumeAsync(CancellationToken cancellationToken = default)
    {
        await _control.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_paused)
                return;
            Volatile.Write(ref _paused, false);
            _running.Release();
        }
        finally
        {
            _control.Release();
        }

        StateChanged?.Invoke(new VmStateChange(true, DateTimeOffset.UtcNow));
    }

    private async Task WriteLoopAsync(NbdClient disk, CancellationToken stop)
    {
        byte[] record = new byte[WorkloadRecord.Size];
        var clock = Stopwatch.StartNew();
        var next = TimeSpan.Zero;
        TimeSpan? last = null;
        try
        {
            for (long n = RecordsWritten; n < _windowRecords; n++)
            {
                // Paced like a guest doing steady synchronous I/O; a pause never causes a burst afterwards.
                next = next + _interval < clock.Elapsed ? clock.Elapsed : next + _interval;
                var wait = next - clock.Elapsed;
                if (wait > TimeSpan.Zero)
                    await Task.Delay(wait, stop).ConfigureAwait(false);
                await _running.WaitAsync(stop).ConfigureAwait(false);
                try
                {
                    Fill(record, n, _runId);
                    // Never abandoned half-way: a stop waits for the write in flight like a pause does.
                    await disk.WriteAsync(_windowOffset + n * WorkloadRecord.Size, record, cancellationToken: CancellationToken.None).ConfigureAwait(false);
                    Interlocked.Exchange(ref _written, n + 1);
                }
                finally
                {
                    _running.Release();
                }

                var now = clock.Elapsed;
                if (last is { } previous && (now - previous).Ticks > Interlocked.Read(ref _longestGapTicks))
                    Interlocked.Exchange(ref _longestGapTicks, (now - previous).Ticks);
                last = now;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            _failure = e;
        }
    }

    /// <summary>Record <paramref name="sequence"/> of run <paramref name="runId"/>, byte for byte as infra/guest/workload/teleport-writer.c writes it.</summary>
    public static void Fill(Span<byte> record, long sequence, ulong runId)
    {
        WorkloadRecord.Magic.CopyTo(record);
        BinaryPrimitives.WriteUInt64LittleEndian(record[8..], (ulong)sequence);
        BinaryPrimitives.WriteUInt64LittleEndian(record[16..], runId);
        ulong x = ((ulong)sequence ^ runId) * 0x9e3779b97f4a7c15UL | 1;
        for (int i = 24; i < WorkloadRecord.Size - 8; i += 8)
        {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            BinaryPrimitives.WriteUInt64LittleEndian(record[i..], x);
        }

        BinaryPrimitives.WriteUInt64LittleEndian(record[(WorkloadRecord.Size - 8)..], WorkloadRecord.Fnv1a(record[..(WorkloadRecord.Size - 8)]));
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await StopAsync().ConfigureAwait(false);
        _stop.Dispose();
        _running.Dispose();
        _control.Dispose();
    }
}
