using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Teleport.Nbd.Tests.Support;

/// <summary>The real qemu-nbd serving a raw file on 127.0.0.1, for checking our client against it.</summary>
internal sealed class QemuNbdProcess : IAsyncDisposable
{
    private readonly Process _process;

    private QemuNbdProcess(Process process, IPEndPoint endPoint)
    {
        _process = process;
        EndPoint = endPoint;
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>Starts qemu-nbd on <paramref name="file"/>; <paramref name="extraArguments"/> go before the file (e.g. --tls-creds).</summary>
    public static async Task<QemuNbdProcess> StartAsync(string file, string exportName, string description, params string[] extraArguments)
    {
        // qemu-nbd cannot report an ephemeral port, so take a free one and hand it over.
        int port = FreePort.Next();

        var start = new ProcessStartInfo(QemuTools.QemuNbd) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string argument in new[] { "-f", "raw", "-x", exportName, "-D", description, "-b", "127.0.0.1", "-p", port.ToString(), "-t", "--shared=8" }.Concat(extraArguments).Append(file))
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("qemu-nbd did not start.");
        var endPoint = new IPEndPoint(IPAddress.Loopback, port);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            try
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(endPoint);
                return new QemuNbdProcess(process, endPoint);
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(50);
            }
            catch (SocketException)
            {
                string error = process.HasExited ? await process.StandardError.ReadToEndAsync() : "still running";
                process.Dispose();
                throw new InvalidOperationException($"qemu-nbd did not start listening on port {port}: {error}");
            }
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
}
