using System.Text;
using Teleport.Cli.Demo;

namespace Teleport.Cli.Tests;

/// <summary>
/// Whether the test guest continued across a whole-VM move: the source QEMU's console lines go to the log directly,
/// the incoming QEMU's come from the console file the destination host worker appends to (a real file, written in
/// pieces as a process would), and the log says whether the writer's sequence went on unbroken without a restart.
/// </summary>
public sealed class GuestContinuityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("teleport-guest-continuity-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task A_writer_that_goes_on_counting_in_the_incoming_qemu_continued()
    {
        // As QEMU prints it: the firmware's terminal escapes (reset, clear screen) come before the guest's first line.
        var log = Source(FirmwareEscapes + "TPW guest ready", Records(0, 10));
        await DestinationAsync(log, "SeaBIOS noise from QEMU\r", Records(10, 5));

        Assert.True(log.Continued, log.Console);
        Assert.Equal(9, log.LastSourceSequence);
        Assert.Equal(14, log.LastDestinationSequence);
        Assert.Equal(15, log.RecordsWritten);
        Assert.Null(log.Failure);
    }

    [Fact]
    public async Task A_guest_that_rebooted_in_the_incoming_qemu_did_not_continue()
    {
        var log = Source("TPW guest ready", Records(0, 10));
        await DestinationAsync(log, FirmwareEscapes + "TPW guest ready", Records(10, 3));

        Assert.False(log.Continued);
        Assert.Equal(13, log.RecordsWritten);
    }

    [Theory]
    [InlineData(12L)] // records lost across the move
    [InlineData(9L)] // a record written twice: the destination started from an older state
    [InlineData(0L)] // the writer started over
    public async Task A_break_in_the_sequence_across_the_move_is_not_a_continuation(long firstOnDestination)
    {
        var log = Source("TPW guest ready", Records(0, 10));
        await DestinationAsync(log, Records(firstOnDestination, 3));

        Assert.False(log.Continued);
        Assert.Equal(9, log.LastSourceSequence);
        Assert.Equal(firstOnDestination + 2, log.LastDestinationSequence);
    }

    [Fact]
    public async Task A_writer_error_or_no_incoming_console_is_not_a_continuation()
    {
        var failing = Source("TPW guest ready", Records(0, 5));
        await DestinationAsync(failing, Records(5, 2), "TPW error: write at 28672: Input/output error");
        Assert.False(failing.Continued);
        Assert.StartsWith("TPW error", failing.Failure);

        var alone = Source("TPW guest ready", Records(0, 5));
        await using (var follower = new ConsoleFileFollower(Path.Combine(_dir, "never-written.console.log"), alone))
            follower.Start();
        Assert.False(alone.Continued);
        Assert.Equal(-1, alone.LastDestinationSequence);
    }

    [Fact]
    public async Task The_gap_the_guest_saw_spans_the_two_consoles()
    {
        var log = Source("TPW guest ready", Records(0, 3));
        await Task.Delay(300);
        await DestinationAsync(log, Records(3, 2));

        Assert.True(log.Continued, log.Console);
        Assert.InRange(log.LongestGap, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task An_endless_line_is_cut_and_a_last_line_without_newline_still_counts()
    {
        var log = Source("TPW guest ready", Records(0, 2));
        string path = Path.Combine(_dir, "vm.console.log");
        await using (var follower = new ConsoleFileFollower(path, log))
        {
            follower.Start();
            await File.WriteAllTextAsync(path, new string('x', 10_000) + "\nTPW seq=2\nTPW seq=3");
        }

        Assert.Equal(4, log.RecordsWritten);
        Assert.True(log.Continued, log.Console);
        Assert.Equal(4096, log.Console.Split('\n').Max(l => l.TrimEnd('\r').Length));
    }

    private const string FirmwareEscapes = "\u001bc\u001b[?7l\u001b[2J";

    private static GuestLog Source(params object[] lines)
    {
        var log = new GuestLog();
        foreach (string line in Flatten(lines))
            log.OnLine(line);
        return log;
    }

    // The incoming QEMU's console: created after the follower started, appended in small pieces, then the follower
    // is stopped (it reads everything appended before the stop).
    private async Task DestinationAsync(GuestLog log, params object[] lines)
    {
        string path = Path.Combine(_dir, $"{Guid.NewGuid():N}.console.log");
        await using var follower = new ConsoleFileFollower(path, log);
        follower.Start();
        await Task.Delay(30);
        byte[] bytes = Encoding.UTF8.GetBytes(string.Concat(Flatten(lines).Select(l => l + "\n")));
        await using var file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite);
        for (int offset = 0; offset < bytes.Length; offset += 7)
        {
            await file.WriteAsync(bytes.AsMemory(offset, Math.Min(7, bytes.Length - offset)));
            await file.FlushAsync();
        }
    }

    private static string[] Records(long first, int count) => Enumerable.Range(0, count).Select(i => $"TPW seq={first + i}").ToArray();

    private static IEnumerable<string> Flatten(object[] lines) => lines.SelectMany(l => l is string[] many ? many : [(string)l]);
}
