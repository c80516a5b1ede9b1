using System.Globalization;
using Serilog;
using Teleport.Transfer;

namespace Teleport.Cli.Commands;

/// <summary>
/// Shows a migration's phases: one progress bar per phase on a terminal, one log line per phase and round otherwise.
/// Called from the session's tasks, so it only records and never blocks.
/// </summary>
internal sealed class TransferProgress(string side) : ITransferObserver
{
    private readonly Dictionary<TransferPhase, ProgressTask> _bars = [];
    private ProgressContext? _context;
    private long _requested;
    private long _sentInCopy;

    /// <summary>Runs <paramref name="run"/> with live bars on <paramref name="console"/> when a person watches.</summary>
    public async Task<T> ShowAsync<T>(CliConsole console, Func<Task<T>> run)
    {
        if (!console.IsInteractive)
            return await run();
        return await console.Ui.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                lock (_bars)
                    _context = ctx;
                return await run();
            });
    }

    public void OnPhase(TransferPhase phase)
    {
        Log.Information("{Side}: phase {Phase}", side, phase);
        lock (_bars)
        {
            foreach (var bar in _bars.Values.Where(b => !b.IsFinished))
                bar.Value = bar.MaxValue;
            if (_context is not null && phase is not (TransferPhase.Connecting or TransferPhase.Completed))
                _bars[phase] = _context.AddTask(Describe(phase), maxValue: phase == TransferPhase.Copy ? Math.Max(1, _requested) : 1);
        }
    }

    public void OnIndexResolved(IndexReport r)
    {
        Log.Information("{Side}: {Blocks} blocks: {Zero} zero, {FromIndex} from the destination's index, {FromVolume} already there or repeated, {Requested} to send",
            side, r.Blocks, r.ZeroBlocks, r.FromIndex, r.FromVolume, r.Requested);
        Interlocked.Exchange(ref _requested, r.Requested);
    }

    public void OnRound(RoundReport r)
    {
        Log.Information("{Side}: round {Round}{Final}: {Blocks} blocks, {Bytes} on the wire in {Seconds:0.00} s ({Rate}/s), {Dirty} dirty after",
            side, r.Round, r.Final ? " (final)" : "", r.BlocksSent, ByteSize.Format(r.WireBytes), r.Seconds,
            ByteSize.Format((long)r.BytesPerSecond), r.DirtyAfter);
        lock (_bars)
        {
            _sentInCopy += r.BlocksSent;
            if (_bars.TryGetValue(TransferPhase.Copy, out var copy) && !copy.IsFinished)
            {
                copy.MaxValue = Math.Max(copy.MaxValue, _sentInCopy + r.DirtyAfter);
                copy.Value = _sentInCopy;
                copy.Description = string.Create(CultureInfo.InvariantCulture, $"copy rounds ({r.Round})");
            }
        }
    }

    public void OnReconnect(int attempt, Exception error) =>
        Log.Warning("{Side}: connection lost ({Error}); reconnecting, attempt {Attempt}", side, error.Message, attempt);

    public void OnRejected(Exception error) =>
        Log.Warning("{Side}: refused a connection: {Error}", side, error.Message);

    private static string Describe(TransferPhase phase) => phase switch
    {
        TransferPhase.Index => "index phase",
        TransferPhase.Request => "request phase",
        TransferPhase.Copy => "copy rounds",
        TransferPhase.Converged => "converged",
        TransferPhase.Final => "final round + verify",
        _ => phase.ToString(),
    };
}
