using System.Diagnostics;
using System.Text;

namespace Teleport.Host.Tests.Support;

/// <summary>
/// One interactive qemu-io process: a single NBD connection kept open across commands, so a test can switch
/// the upstream between two commands of the same client.
/// </summary>
internal sealed class QemuIoSession : IAsyncDisposable
{
    private const string Prompt = "qemu-io> ";
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private int _disposed;

    private QemuIoSession(Process process)
    {
        _process = process;
        _process.ErrorDataReceived += (_, e) =>
        {
            lock (_stderr)
            {
                _stderr.AppendLine(e.Data);
            }
        };
        _process.BeginErrorReadLine();
    }

    public static async Task<QemuIoSession> StartAsync(string url)
    {
        var start = new ProcessStartInfo(Tools.QemuIo)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in new[] { "-f", "raw", url })
        {
            start.ArgumentList.Add(argument);
        }

        var session = new QemuIoSession(Process.Start(start) ?? throw new InvalidOperationException("qemu-io did not start."));
        await session.ReadUntilPromptAsync();
        return session;
    }

    /// <summary>Runs one command and returns its output; throws when qemu-io reports a failure.</summary>
    public async Task<string> RunAsync(string command, TimeSpan? timeout = null)
    {
        string output = await RunUncheckedAsync(command, timeout);
        if (output.Contains("failed", StringComparison.OrdinalIgnoreCase) || output.Contains("error", StringComparison.OrdinalIgnoreCase)
            || output.Contains("Pattern verification", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"qemu-io '{command}' failed:\n{output}");
        }

        return output;
    }

    /// <summary>Runs one command and returns its output whatever it says.</summary>
    public async Task<string> RunUncheckedAsync(string command, TimeSpan? timeout = null)
    {
        await _process.StandardInput.WriteLineAsync(command);
        await _process.StandardInput.FlushAsync();
        return await ReadUntilPromptAsync(timeout);
    }

    private async Task<string> ReadUntilPromptAsync(TimeSpan? timeout = null)
    {
        var output = new StringBuilder();
        char[] buffer = new char[4096];
        using var deadline = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        while (!EndsWithPrompt(output))
        {
            int read;
            try
            {
                read = await _process.StandardOutput.ReadAsync(buffer.AsMemory(), deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"qemu-io gave no prompt in time; output so far:\n{output}\nstderr:\n{Stderr}");
            }

            if (read == 0)
            {
                throw new InvalidOperationException($"qemu-io exited; output:\n{output}\nstderr:\n{Stderr}");
            }

            output.Append(buffer, 0, read);
        }

        output.Length -= Prompt.Length;
        lock (_stderr)
        {
            output.Append(_stderr);
            _stderr.Clear();
        }

        return output.ToString();
    }

    private string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    private static bool EndsWithPrompt(StringBuilder output) =>
        output.Length >= Prompt.Length && output.ToString(output.Length - Prompt.Length, Prompt.Length) == Prompt;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            await _process.StandardInput.WriteLineAsync("quit");
            _process.StandardInput.Close();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (Exception)
        {
            if (!_process.HasExited)
            {
                _process.Kill();
            }
        }

        _process.Dispose();
    }
}
