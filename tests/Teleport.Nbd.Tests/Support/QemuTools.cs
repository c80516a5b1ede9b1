using System.Diagnostics;

namespace Teleport.Nbd.Tests.Support;

/// <summary>Paths of the real qemu tools, exported by infra/test.d/20-qemu-utils.sh.</summary>
internal static class QemuTools
{
    public static string QemuIo => Require("TELEPORT_QEMU_IO", "qemu-io");

    public static string QemuImg => Require("TELEPORT_QEMU_IMG", "qemu-img");

    public static string QemuNbd => Require("TELEPORT_QEMU_NBD", "qemu-nbd");

    private static string Require(string variable, string tool)
    {
        string? path = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrEmpty(path) || !File.Exists(path))
        {
            throw new InvalidOperationException(
                $"{tool} is required by the NBD tests but {variable} is {(string.IsNullOrEmpty(path) ? "not set" : $"'{path}', which does not exist")}. " +
                $"Run infra/test.sh (its hook infra/test.d/20-qemu-utils.sh installs qemu-utils) or export {variable}=/usr/bin/{tool}.");
        }

        return path;
    }

    public static async Task<ProcessResult> RunAsync(string executable, params string[] arguments)
    {
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {executable}.");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
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

        ProcessResult result = await RunAsync(QemuIo, [.. arguments]);
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
