using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Teleport.Cli.Tests;

/// <summary>
/// `teleport demo` end to end, in-process: the whole system on one in-memory bus migrates a generated volume while
/// the in-process VM writes, and the figures it prints must agree with each other and with what is on disk.
/// </summary>
[Collection(DemoCollection.Name)]
public sealed class DemoCommandTests : IDisposable
{
    private const long MiB = 1 << 20;

    private readonly string _keep = Path.Combine(Path.GetTempPath(), $"teleport-demo-test-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_keep))
            Directory.Delete(_keep, recursive: true);
    }

    [Fact]
    public void The_default_demo_succeeds_and_every_figure_is_consistent()
    {
        var run = CliRun.Of("demo", "--json");
        var json = run.Json();

        Assert.Equal("Succeeded", json.GetProperty("state").GetString());
        Assert.Equal("in-process", json.GetProperty("vm").GetString());
        Assert.Equal(256 * MiB, json.GetProperty("volumeBytes").GetInt64());
        AssertConsistent(json, run.Stderr);
    }

    [Fact]
    public void A_small_volume_kept_in_a_directory_leaves_the_saga_row_and_the_volumes_behind()
    {
        var run = CliRun.Of("demo", "--json", "--size", "8m", "--bandwidth", "200mbit", "--keep", _keep);
        var json = run.Json();

        Assert.Equal(8 * MiB, json.GetProperty("volumeBytes").GetInt64());
        Assert.Equal(2048, json.GetProperty("blocks").GetInt64());
        AssertConsistent(json, run.Stderr);

        Assert.Equal(8 * MiB, new FileInfo(Path.Combine(_keep, "storage-a", "volumes", "vm-1-disk.img")).Length);
        Assert.Equal(8 * MiB, new FileInfo(Path.Combine(_keep, "storage-b", "volumes", "vm-1-disk.img")).Length);
        Assert.True(File.Exists(Path.Combine(_keep, "storage-b", "images", "base.img")));
        using var db = new SqliteConnection($"Data Source={Path.Combine(_keep, "orchestrator.db")};Pooling=false");
        db.Open();
        using var query = db.CreateCommand();
        query.CommandText = "SELECT * FROM migrations";
        using var reader = query.ExecuteReader();
        Assert.True(reader.Read(), "the saga left no row");
        var row = Enumerable.Range(0, reader.FieldCount).ToDictionary(reader.GetName, i => reader.GetValue(i)?.ToString(), StringComparer.OrdinalIgnoreCase);
        Assert.Equal(json.GetProperty("migrationId").GetGuid(), Guid.Parse(row["CorrelationId"]!));
        Assert.Equal("Succeeded", row["CurrentState"]);
        Assert.False(reader.Read(), "one migration, one row");
    }

    [Fact]
    public void The_qemu_guest_as_the_vm_loses_no_write()
    {
        // Needs the workload guest: infra/test.sh exports TELEPORT_GUEST_KERNEL/INITRD (hook 25-qemu-system.sh).
        var run = CliRun.Of("demo", "--json", "--guest", "--size", "16m");
        var json = run.Json();

        Assert.Equal("qemu", json.GetProperty("vm").GetString());
        AssertConsistent(json, run.Stderr, exactCount: false);
    }

    [Fact]
    public void The_whole_vm_moves_the_writing_guest_into_a_second_qemu_which_carries_on_without_a_reboot()
    {
        // Host-1's QEMU runs the guest; host-2 starts the incoming QEMU from the definition the saga carries.
        var run = CliRun.Of("demo", "--json", "--whole-vm", "--size", "16m");
        var json = run.Json();
        string context = $"{json}\n{run.Stderr}";

        Assert.Equal("Succeeded", json.GetProperty("state").GetString());
        Assert.True(json.GetProperty("wholeVm").GetBoolean(), context);
        Assert.Equal("qemu", json.GetProperty("vm").GetString());
        Assert.Equal("host-2", json.GetProperty("destinationHost").GetString());
        // QEMU sent the guest's memory (256 MiB less 8 KiB, most of it never touched: zero pages are sent small).
        Assert.InRange(json.GetProperty("memoryBytes").GetInt64(), 1 * MiB, 512 * MiB);
        Assert.True(json.GetProperty("recordsIntact").GetBoolean(), context);
        Assert.True(json.GetProperty("guestContinued").GetBoolean(), context);
        // Both parts are reported. QEMU's own figure ends when the source sees its migration complete, which may now come
        // after the destination host already ran `cont` (it resumes as soon as its incoming stream completes), so it is
        // not bounded by the measured pause.
        Assert.True(json.GetProperty("downtimeMs").GetDouble() > 0, context);
        Assert.True(json.GetProperty("qemuDowntimeMs").GetDouble() > 0, context);
        Assert.Contains("pre-switchover", run.Stderr);
        AssertConsistent(json, run.Stderr, exactCount: false);
    }

    [Theory]
    [InlineData("--size", "lots", "--size 'lots' is not a size")]
    [InlineData("--size", "1000000", "must be a multiple of 4 KiB")]
    [InlineData("--size", "1m", "from 4 MiB to 16 GiB")]
    [InlineData("--size", "32g", "from 4 MiB to 16 GiB")]
    [InlineData("--bandwidth", "fast", "--bandwidth 'fast' is not a rate")]
    [InlineData("--frobnicate", "1", "frobnicate")]
    public void Bad_flags_are_one_line_and_exit_2(string option, string value, string message)
    {
        var run = CliRun.Of("demo", option, value);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Stderr);
        Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("", run.Stdout);
    }

    [Fact]
    public void A_keep_directory_that_holds_files_is_refused_untouched()
    {
        Directory.CreateDirectory(_keep);
        File.WriteAllText(Path.Combine(_keep, "precious.txt"), "mine");

        var run = CliRun.Of("demo", "--keep", _keep);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains("must be an empty or new directory", run.Stderr);
        Assert.Equal(["precious.txt"], Directory.EnumerateFileSystemEntries(_keep).Select(Path.GetFileName));
    }

    private static void AssertConsistent(JsonElement json, string stderr, bool exactCount = true)
    {
        string context = $"{json}\n{stderr}";
        long volume = json.GetProperty("volumeBytes").GetInt64();
        long wire = json.GetProperty("bytesOnWire").GetInt64();
        long blocks = json.GetProperty("blocks").GetInt64();
        long zero = json.GetProperty("zeroBlocks").GetInt64();
        long fromIndex = json.GetProperty("blocksFromIndex").GetInt64();
        long sent = json.GetProperty("blocksSent").GetInt64();
        long written = json.GetProperty("recordsWritten").GetInt64();

        Assert.True(json.GetProperty("verified").GetBoolean(), context);
        Assert.True(json.GetProperty("destinationVerified").GetBoolean(), context);
        Assert.True(json.GetProperty("restMatchesSource").GetBoolean(), context);
        Assert.Equal(JsonValueKind.Null, json.GetProperty("failure").ValueKind);
        Assert.Equal(volume / 4096, blocks);
        Assert.InRange(wire, 1, volume - 1);
        Assert.Equal(Math.Round((double)wire / volume, 4), json.GetProperty("wireRatio").GetDouble(), 4);
        // The generator makes about 43% of the blocks copies of the base image and a fifth or more zero.
        Assert.InRange(fromIndex, blocks / 4, blocks / 2);
        Assert.InRange(zero, blocks / 5, blocks / 2);
        // Every non-zero block the index did not provide crossed the wire (the generated data has no repeats).
        Assert.True(sent >= blocks - fromIndex - zero, context);
        Assert.True(json.GetProperty("rounds").GetInt32() >= 1, context);
        double downtime = json.GetProperty("downtimeMs").GetDouble();
        Assert.InRange(downtime, 0.001, 30_000);
        // One clock here: the VM resumes only after both legs of the cut-over, the verified final sync and the switch.
        Assert.InRange(json.GetProperty("pausedToVerifiedMs").GetDouble(), 0, downtime);
        // A whole-VM move's disk path is never switched: host-2's QEMU opens the destination export itself.
        if (!json.GetProperty("wholeVm").GetBoolean())
            Assert.InRange(json.GetProperty("pausedToSwitchedMs").GetDouble(), 0, downtime);
        Assert.True(written > 0, context);
        // The guest reports each record after writing it, so when it is stopped one more may be on the disk.
        Assert.InRange(json.GetProperty("recordsVerified").GetInt64(), written, exactCount ? written : written + 1);
        Assert.InRange(json.GetProperty("recordsAfterCutover").GetInt64(), 1, written);
    }
}
