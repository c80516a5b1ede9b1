using System.Diagnostics;

namespace Teleport.Nbd.Tests.Support;

/// <summary>Runs the real qemu tools (their paths from <see cref="TestEnvironment"/>).</summary>
internal static class QemuTools
{
    public static string QemuIo => TestEnvironment.QemuIo;

    public static string QemuImg => TestEnvironment.QemuImg;

    public static string QemuNbd => TestEnvironment.QemuNbd;

    public static string QemuSystem => TestEnvironment.QemuSystem;

    public static Task<ProcessResult> RunAsync(string executable, params string[] arguments) => RunWithInputAsync(executable, input: null, arguments);

    /// <summary>Runs <paramref name="executable"/>, writing <paramref name="input"/> (if any) to its stdin and then closing it.</summary>
    public static async Task<ProcessResult> RunWithInputAsync(string executable, string? input, params string[] arguments)
    {
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = input is not null,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {executable}.");
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
            process.StandardInput.Close();
        }

        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{executable} {string.Join(' ', arguments)} did not finish within 120 s.");
        }

        return new ProcessResult(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Runs qemu-io against <paramref name="url"/> with the given -c commands; throws when it fails.</summary>
    public static async Task<string> QemuIoAsync(string url, params string[] commands)
    {
        var arguments = new List<string> { "-f", "raw", url };
        foreach (string command in commands)
        {
            arguments.Add("-c");
            arguments.Add(command);
        }

        var result = await RunAsync(QemuIo, [.. arguments]);
        string output = result.Stdout + result.Stderr;
        // qemu-io reports failed commands (e.g. a pattern mismatch) in its output, not always in its exit code.
        if (result.ExitCode != 0 || output.Contains("failed", StringComparison.OrdinalIgnoreCase)
            || output.Contains("Pattern verification", StringComparison.OrdinalIgnoreCase) || output.Contains("error", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"qemu-io {string.Join(' ', commands)} failed (exit {result.ExitCode}):\n{output}");
        }

        return output;
    }
}
