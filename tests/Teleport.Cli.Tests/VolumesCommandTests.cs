using Teleport.Storage.Retention;
using Teleport.Storage.Volumes;

namespace Teleport.Cli.Tests;

/// <summary><c>teleport volumes</c> over a real volume directory: volumes, an incoming one and a retained copy.</summary>
public sealed class VolumesCommandTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("teleport-volumes-cli-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Lists_volumes_and_retained_copies_as_json_and_as_a_table()
    {
        var store = new VolumeStore(_root);
        store.Create("web", 1 << 20);
        store.Create("db", 2 << 20);
        store.MarkIncoming("db");
        store.Create("old", 3 << 20);
        var at = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
        var copy = new RetainedCopy("old", Guid.NewGuid(), 3 << 20, at, at.AddDays(7));
        new RetainedStore(_root).Retain(store, copy);

        var json = CliRun.Of("volumes", "--volumes", _root, "--json").Json();
        var rows = json.GetProperty("volumes").EnumerateArray()
            .ToDictionary(r => r.GetProperty("id").GetString()!, r => r);
        Assert.Equal(["db", "old", "web"], rows.Keys.Order());
        Assert.Equal("incoming", rows["db"].GetProperty("kind").GetString());
        Assert.Equal("volume", rows["web"].GetProperty("kind").GetString());
        Assert.Equal(1 << 20, rows["web"].GetProperty("sizeBytes").GetInt64());
        var retained = rows["old"];
        Assert.Equal("retained", retained.GetProperty("kind").GetString());
        Assert.Equal(3 << 20, retained.GetProperty("sizeBytes").GetInt64());
        Assert.Equal(at, retained.GetProperty("retainedSince").GetDateTimeOffset());
        Assert.Equal(at.AddDays(7), retained.GetProperty("expiresAt").GetDateTimeOffset());
        Assert.Equal(copy.MigrationId, retained.GetProperty("migrationId").GetGuid());

        var table = CliRun.Of("volumes", "--volumes", _root);
        Assert.Equal(0, table.ExitCode);
        Assert.Contains("retained", table.Stdout);
        Assert.Contains("2026-03-08 12:00:00Z", table.Stdout);
    }

    [Fact]
    public void A_missing_directory_is_a_clear_error()
    {
        var run = CliRun.Of("volumes", "--volumes", Path.Combine(_root, "nope"));
        Assert.Equal(2, run.ExitCode);
        Assert.Contains("no volume directory", run.Stderr);
        Assert.False(Directory.Exists(Path.Combine(_root, "nope")), "listing creates nothing");
    }
}
