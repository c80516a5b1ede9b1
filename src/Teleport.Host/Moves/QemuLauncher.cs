using System.Diagnostics;
using System.Net.Sockets;

namespace Teleport.Host.Moves;

/// <summary>
/// A QEMU process this host worker started (an incoming VM): the binary from the host's configuration run with an
/// argument list (no shell), its console appended to a log file in the state directory. Killed on dispose.
/// </summary>
public sealed class QemuLauncher : IAsyncDisposable
{
    private static readonly TimeSpan GreetingWait = TimeSpan.FromSeconds(1);
    private readonly Process _process;
    private readonly StreamWriter _console;
    private readonly Lock _consoleLock = new();
    private volatile bool _disposed;

    private QemuLauncher(Process process, StreamWriter console, string consoleLog)
    {
        _process = process;
        _console = console;
        ConsoleLog = consoleLog;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>The file the guest's console and QEMU's messages go to.</summary>
    public string ConsoleLog { get; }

    public int Pid => _process.Id;

    public bool HasExited => _disposed || _process.HasExited;

    /// <summary>Starts QEMU and waits until it greets on its QMP socket.</summary>
    /// <exception cref="InvalidOperationException">QEMU did not start, exited, or opened no QMP socket in time (with its last output).</exception>
    public static async Task<QemuLauncher> StartAsync(string binary, IEnumerable<string> arguments, string qmpSocket, string consoleLog,
        TimeSpan timeout, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
            start.ArgumentList.Add(argument);
        var console = new StreamWriter(new FileStream(consoleLog, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"'{binary}' did not start");
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            await console.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"cannot start QEMU '{binary}': {e.Message}", e);
        }

        var qemu = new QemuLauncher(process, console, consoleLog);
        var waited = Stopwatch.StartNew();
        while (!await GreetsAsync(qmpSocket, cancellationToken).ConfigureAwait(false))
        {
            if (qemu.HasExited || waited.Elapsed > timeout)
            {
                string why = qemu.HasExited ? "exited" : $"did not greet on its QMP socket within {timeout.TotalSeconds:0.#} s";
                await qemu.DisposeAsync().ConfigureAwait(false);
                throw new InvalidOperationException($"QEMU {why}: {Tail(consoleLog)}");
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }

        return qemu;
    }

    /// <summary>Waits for QEMU to exit (after QMP quit); kills it when it does not in time.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }
    }

    private void Append(string? line)
    {
        if (line is null)
            return;
        lock (_consoleLock)
        {
            try
            {
                _console.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // Output after dispose has nowhere to go.
            }
        }
    }

    // The last lines of the console: why QEMU refused to start is usually there.
    private static string Tail(string log)
    {
        try
        {
            using var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            string text = reader.ReadToEnd().Trim();
            return text.Length <= 600 ? text : "…" + text[^600..];
        }
        catch (IOException e)
        {
            return e.Message;
        }
    }

    // QEMU binds its QMP socket before it initialises the machine but greets only from its main loop, which a loaded
    // host can take seconds to reach: ready means greeted, so the QMP client that connects next is served at once.
    private static async Task<bool> GreetsAsync(string socketPath, CancellationToken cancellationToken)
    {
        if (!File.Exists(socketPath))
            return false;
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        attempt.CancelAfter(GreetingWait);
        try
        {
            await probe.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), attempt.Token).ConfigureAwait(false);
            return await probe.ReceiveAsync(new byte[64], SocketFlags.None, attempt.Token).ConfigureAwait(false) > 0;
        }
        catch (SocketException)
        {
            return false;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
            return;
        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }

        _process.Dispose();
        lock (_consoleLock)
            _console.Dispose();
    }
}
