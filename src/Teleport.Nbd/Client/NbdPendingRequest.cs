using System.Threading.Tasks.Sources;
using Teleport.Nbd.Protocol;

namespace Teleport.Nbd.Client;

/// <summary>
/// One reusable request slot of a client: its cookie is its index. The reply loop fills the read
/// buffer and completes it; the caller awaits it without allocating.
/// </summary>
internal sealed class NbdPendingRequest(int index) : IValueTaskSource
{
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private int _completed;

    public int Index { get; } = index;

    /// <summary>Request header scratch space.</summary>
    public byte[] Header { get; } = new byte[NbdMagic.RequestHeaderLength];

    public bool InUse { get; private set; }

    public NbdCommand Command { get; private set; }

    public ulong Offset { get; private set; }

    /// <summary>Destination of READ data.</summary>
    public Memory<byte> Buffer { get; private set; }

    /// <summary>Bytes of a structured READ described so far.</summary>
    public long Covered { get; set; }

    public NbdError Error { get; set; }

    public string? ErrorMessage { get; set; }

    public ValueTask Start(NbdCommand command, ulong offset, Memory<byte> buffer)
    {
        _core.Reset();
        _completed = 0;
        InUse = true;
        Command = command;
        Offset = offset;
        Buffer = buffer;
        Covered = 0;
        Error = NbdError.None;
        ErrorMessage = null;
        return new ValueTask(this, _core.Version);
    }

    public void Release()
    {
        InUse = false;
        Buffer = default;
    }

    /// <summary>Completes with the recorded error, if any.</summary>
    public void Complete()
    {
        if (Interlocked.Exchange(ref _completed, 1) == 0)
        {
            if (Error == NbdError.None)
            {
                _core.SetResult(true);
            }
            else
            {
                _core.SetException(new NbdCommandException(Command, Error, ErrorMessage));
            }
        }
    }

    public void Fail(Exception exception)
    {
        if (Interlocked.Exchange(ref _completed, 1) == 0)
        {
            _core.SetException(exception);
        }
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
