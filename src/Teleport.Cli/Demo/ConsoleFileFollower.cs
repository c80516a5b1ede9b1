using System.Text;

namespace Teleport.Cli.Demo;

/// <summary>
/// Follows the incoming QEMU's console after a whole-VM move: the destination host worker appends that QEMU's serial
/// console to a log file in its state directory (<c>{state}/{vm}.console.log</c>); this reads what is appended every
/// few milliseconds and hands each whole line to <see cref="GuestLog"/> as the destination's, so the time a record
/// arrives is known to within that interval. A line longer than 4096 characters is cut there.
/// </summary>
public sealed class ConsoleFileFollower : IAsyncDisposable
{
    private const int MaxLineChars = 4096;
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(10);

    private readonly string _path;
    private readonly GuestLog _log;
    private readonly int _side;
    private readonly CancellationTokenSource _stop = new();
    private readonly StringBuilder _line = new();
    private Task _following = Task.CompletedTask;
    private int _disposed;

    public ConsoleFileFollower(string path, GuestLog log, int side = 1)
    {
        _path = path;
        _log = log;
        _side = side;
    }

    /// <summary>Starts following; the file may not exist yet (the incoming QEMU is not started).</summary>
    public void Start() => _following = FollowAsync(_stop.Token);

    private async Task FollowAsync(CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[64 * 1024];
        var decoder = Encoding.UTF8.GetDecoder();
        char[] chars = new char[Encoding.UTF8.GetMaxCharCount(buffer.Length)];
        FileStream? file = null;
        try
        {
            while (true)
            {
                file ??= TryOpen();
                int read = file is null ? 0 : await file.ReadAsync(buffer, CancellationToken.None).ConfigureAwait(false);
                if (read > 0)
                {
                    int count = decoder.GetChars(buffer, 0, read, chars, 0);
                    Take(chars.AsSpan(0, count));
                    continue;
                }

                // Stopping reads what was appended up to now first, so no line written before the stop is missed.
                if (cancellationToken.IsCancellationRequested)
                    break;
                await Task.Delay(Interval, CancellationToken.None).ConfigureAwait(false);
            }
        }
        finally
        {
            if (file is not null)
                await file.DisposeAsync().ConfigureAwait(false);
            if (_line.Length > 0)
                _log.OnLine(_line.ToString(), _side);
        }
    }

    private FileStream? TryOpen()
    {
        try
        {
            return new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    private void Take(ReadOnlySpan<char> text)
    {
        foreach (char c in text)
        {
            if (c == '\n' || _line.Length >= MaxLineChars)
            {
                _log.OnLine(_line.ToString().TrimEnd('\r'), _side);
                _line.Clear();
            }

            if (c != '\n')
                _line.Append(c);
        }
    }

    /// <summary>Reads what the file holds now, then stops.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        await _stop.CancelAsync().ConfigureAwait(false);
        await _following.ConfigureAwait(false);
        _stop.Dispose();
    }
}
