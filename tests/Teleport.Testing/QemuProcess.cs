using System.Diagnostics;
using System.Text;

namespace Teleport.Testing;

/// <summary>A real qemu-system-x86_64 with a QMP socket, its console kept in <see cref="Output"/>; killed on dispose.</summary>
public sealed class QemuProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private QemuProcess(Process process, string qmpSocket)
    {
        _process = process;
        QmpSocket = qmpSocket;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string QmpSocket { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts QEMU with <paramref name="arguments"/> plus a QMP server socket and waits for the socket.</summary>
    public static async Task<QemuProcess> StartAsync(string qmpSocket, params string[] arguments)
    {
        var start = new ProcessStartInfo(TestEnvironment.QemuSystem)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.ArgumentList.Add("-qmp");
        start.ArgumentList.Add($"unix:{qmpSocket},server=on,wait=off");
        var qemu = new QemuProcess(Process.Start(start) ?? throw new InvalidOperationException("qemu-system-x86_64 did not start."), qmpSocket);
        var deadline = Stopwatch.StartNew();
        // The socket file exists from bind(), a moment before QEMU listens: wait until a connection is accepted.
        while (!await AcceptsConnectionsAsync(qmpSocket))
        {
            if (qemu.HasExited || deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                string output = qemu.Output;
                await qemu.DisposeAsync();
                throw new InvalidOperationException($"QEMU did not open its QMP socket: {output}");
            }

            await Task.Delay(20);
        }

        return qemu;
    }

    /// <summary>Sends a signal (STOP, CONT, KILL) to QEMU.</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, Pid.ToString()]) ?? throw new InvalidOperationException("kill did not start.");
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }

    public Task WaitForExitAsync(TimeSpan timeout) => _process.WaitForExitAsync(new CancellationTokenSource(timeout).Token);

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private static async Task<bool> AcceptsConnectionsAsync(string socketPath)
    {
        if (!File.Exists(socketPath))
            return false;
        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        try
        {
            await probe.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath));
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }
}
