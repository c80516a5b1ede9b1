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
        // The socket exists from bind(), before QEMU initialises the machine and greets: wait for the greeting.
        while (!await GreetsAsync(qmpSocket))
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

    // QEMU binds its QMP socket before it initialises the machine but greets only from its main loop: ready means greeted.
    private static async Task<bool> GreetsAsync(string socketPath)
    {
        if (!File.Exists(socketPath))
            return false;
        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        using var attempt = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try
        {
            await probe.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath), attempt.Token);
            return await probe.ReceiveAsync(new byte[64], System.Net.Sockets.SocketFlags.None, attempt.Token) > 0;
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or OperationCanceledException)
        {
            return false;
        }
    }
}
