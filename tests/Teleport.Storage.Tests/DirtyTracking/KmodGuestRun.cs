using System.Diagnostics;

namespace Teleport.Storage.Tests.DirtyTracking;

/// <summary>
/// Boots the kmod test guest once (kmod/test/run-tests.sh with the kernel, initramfs and module that
/// infra/test.d/40-kmod.sh built and exported) and keeps its console and verdict. The guest also runs
/// <see cref="KernelTrackerProbe"/> from this very assembly, chrooted into the host's root over 9p.
/// </summary>
public sealed class KmodGuestRun
{
    private const int TimeoutSeconds = 900;

    public KmodGuestRun()
    {
        string? error = Environment.GetEnvironmentVariable("TELEPORT_KMOD_ERROR");
        if (!string.IsNullOrEmpty(error))
            throw new InvalidOperationException($"infra/test.d/40-kmod.sh failed: {error}");
        string run = Require("TELEPORT_KMOD_RUN"), kernel = Require("TELEPORT_KMOD_KERNEL"), initrd = Require("TELEPORT_KMOD_INITRD");
        Require("TELEPORT_KMOD_KO");

        string log = Path.Combine(Path.GetTempPath(), $"teleport-kmod-{Guid.NewGuid():N}.log");
        var start = new ProcessStartInfo("bash")
        {
            ArgumentList =
            {
                run, "--kernel", kernel, "--initrd", initrd, "--dotnet", FindDotnet(),
                "--probe", typeof(KernelTrackerProbe).Assembly.Location, "--timeout", TimeoutSeconds.ToString(), "--log", log,
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Cannot start bash.");
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromSeconds(TimeoutSeconds + 60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{run} did not finish.");
        }
        Errors = stderr.GetAwaiter().GetResult();
        Console = File.Exists(log) ? File.ReadAllText(log) : "";
        File.Delete(log);
        Verdict = GuestVerdict.Parse(Console);
    }

    public string Console { get; }

    public string Errors { get; }

    public GuestVerdict Verdict { get; }

    /// <summary>The end of the console and the runner's errors, for failure messages.</summary>
    public string Tail => $"{string.Join('\n', Console.Split('\n').TakeLast(60))}\n{Errors}";

    private static string Require(string name) => TestEnvironment.Require(name, "40-kmod.sh (the module and the test guest)");

    // The muxer running this test: the guest runs the probe with the same one, from the host's root.
    private static string FindDotnet()
    {
        foreach (string? candidate in new[] { Environment.GetEnvironmentVariable("DOTNET_HOST_PATH"), Environment.ProcessPath })
        {
            if (candidate is not null && Path.GetFileNameWithoutExtension(candidate) == "dotnet" && File.Exists(candidate))
                return new FileInfo(candidate).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? candidate;
        }
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, "dotnet");
            if (File.Exists(candidate))
                return new FileInfo(candidate).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? candidate;
        }
        throw new InvalidOperationException("Cannot find the dotnet executable to run the probe in the guest.");
    }
}
