using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Teleport.Cli.Demo;

/// <summary>
/// What the QEMU test guest's serial console says, from one QEMU process or, when the VM moved, from two (side 0 the
/// source, side 1 the destination): the writer's "TPW seq=N" lines, timed on arrival, its failures, and whether the
/// writer kept counting across the move (its memory moved: no restart, no gap in the sequence).
/// </summary>
public sealed class GuestLog
{
    private const string SequencePrefix = "TPW seq=";
    private const string ReadyLine = "TPW guest ready";

    private readonly StringBuilder _console = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly object _gate = new();
    private readonly long[] _first = [-1, -1];
    private readonly long[] _last = [-1, -1];
    private long _reported;
    private long _lastSequence = -1;
    private long _longestGapTicks;
    private long _lastReportTicks = -1;
    private int _ready;
    private bool _outOfOrder;

    /// <summary>Records the guest reported written: the last sequence number plus one.</summary>
    public long RecordsWritten => Interlocked.Read(ref _reported);

    /// <summary>The longest time between two reported records, over both sides: the pause the guest felt.</summary>
    public TimeSpan LongestGap => TimeSpan.FromTicks(Interlocked.Read(ref _longestGapTicks));

    /// <summary>The writer's first failure line, or null.</summary>
    public string? Failure { get; private set; }

    /// <summary>True once the writer said it wrote all it was asked to.</summary>
    public bool Done { get; private set; }

    /// <summary>The console so far (both sides, in arrival order), for errors.</summary>
    public string Console
    {
        get
        {
            lock (_gate)
                return _console.ToString();
        }
    }

    /// <summary>
    /// True when the destination's first record follows the source's last, every record followed the one before,
    /// the writer started once and never failed: the guest continued where it was, in the destination QEMU.
    /// </summary>
    public bool Continued
    {
        get
        {
            lock (_gate)
            {
                return _last[0] >= 0 && _first[1] >= 0 && _first[1] == _last[0] + 1 && !_outOfOrder && _ready == 1 && Failure is null;
            }
        }
    }

    /// <summary>The last record the source QEMU reported, or -1.</summary>
    public long LastSourceSequence => LastOf(0);

    /// <summary>The last record the destination QEMU reported, or -1.</summary>
    public long LastDestinationSequence => LastOf(1);

    /// <summary>One console line from <paramref name="side"/> (0 the source QEMU, 1 the destination's).</summary>
    public void OnLine(string? line, int side = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(side is 0 or 1, true, nameof(side));
        if (line is null)
            return;
        lock (_gate)
        {
            _console.AppendLine(line);
            if (line.StartsWith(SequencePrefix, StringComparison.Ordinal)
                && long.TryParse(line.AsSpan(SequencePrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out long sequence))
                OnRecord(sequence, side);
            // The console's first line after the firmware starts with its terminal escapes (clear screen).
            else if (line.EndsWith(ReadyLine, StringComparison.Ordinal))
                _ready++;
            else if (line.StartsWith("TPW done", StringComparison.Ordinal))
                Done = true;
            else if (line.StartsWith("TPW error", StringComparison.Ordinal) || line.Contains("I/O error", StringComparison.Ordinal)
                     || line.StartsWith("TPW exit", StringComparison.Ordinal) && line.Trim() != "TPW exit 0")
                Failure ??= line.Trim();
        }
    }

    private void OnRecord(long sequence, int side)
    {
        long now = _clock.Elapsed.Ticks;
        if (_lastReportTicks >= 0 && now - _lastReportTicks > _longestGapTicks)
            Interlocked.Exchange(ref _longestGapTicks, now - _lastReportTicks);
        _lastReportTicks = now;
        if (_lastSequence >= 0 && sequence != _lastSequence + 1)
            _outOfOrder = true;
        _lastSequence = sequence;
        if (_first[side] < 0)
            _first[side] = sequence;
        _last[side] = sequence;
        Interlocked.Exchange(ref _reported, sequence + 1);
    }

    private long LastOf(int side)
    {
        lock (_gate)
            return _last[side];
    }
}
