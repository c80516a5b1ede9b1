using System.Diagnostics;
using Teleport.Host.Hypervisor;

namespace Teleport.Host.Tests.Support;

/// <summary>Disk I/O issued inside a running QEMU with the monitor's qemu-io command, on the drive "d0".</summary>
internal static class QemuMonitorIo
{
    /// <summary>Runs qemu-io inside QEMU; its report goes to QEMU's stdout, which is watched for the result line.</summary>
    public static async Task RunAsync(QmpHypervisor vm, QemuProcess qemu, string command)
    {
        string done = command.StartsWith("read", StringComparison.Ordinal) ? "read " : "wrote ";
        int before = Count(qemu.Output, done);
        var result = await vm.Client.ExecuteAsync("human-monitor-command",
            new Dictionary<string, object?> { ["command-line"] = $"qemu-io d0 \"{command}\"" });
        Assert.Equal("", result.GetString());
        var deadline = Stopwatch.StartNew();
        while (Count(qemu.Output, done) == before)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), $"qemu-io '{command}' did not report; QEMU said:\n{qemu.Output}");
            await Task.Delay(10);
        }

        Assert.DoesNotContain("fail", qemu.Output, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("error", qemu.Output, StringComparison.OrdinalIgnoreCase);
    }

    private static int Count(string text, string what)
    {
        int count = 0;
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + what.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
