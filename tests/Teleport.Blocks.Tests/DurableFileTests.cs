using System.Runtime.Versioning;

namespace Teleport.Blocks.Tests;

/// <summary>Crash-safe small files: atomic replacement, removal, directory sync and the mode they are created with.</summary>
[SupportedOSPlatform("linux")]
public sealed class DurableFileTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    [Fact]
    public void Replace_writes_atomically_with_the_mode_asked_for_and_leaves_no_temp_file()
    {
        string path = _dir.File("key.pfx");
        File.WriteAllBytes(path + ".tmp", [9, 9, 9]); // a crash's leftover, with a mode of its own
        File.SetUnixFileMode(path + ".tmp", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        DurableFile.Replace(path, [1, 2, 3], DurableFile.OwnerOnly);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        Assert.Equal(DurableFile.OwnerOnly, File.GetUnixFileMode(path));
        Assert.False(File.Exists(path + ".tmp"));

        DurableFile.Replace(path, [4], DurableFile.OwnerOnly);
        Assert.Equal([4], File.ReadAllBytes(path));
        Assert.Equal(DurableFile.OwnerOnly, File.GetUnixFileMode(path));
    }

    [Fact]
    public void Delete_removes_and_tolerates_a_missing_file_and_a_missing_directory_is_a_clear_error()
    {
        string path = _dir.File("marker");
        DurableFile.Replace(path, []);
        Assert.True(File.Exists(path));
        DurableFile.Delete(path);
        Assert.False(File.Exists(path));
        DurableFile.Delete(path);

        var error = Assert.Throws<IOException>(() => DurableFile.SyncDirectory(_dir.File("gone")));
        Assert.Contains("cannot open directory", error.Message);
        Assert.Throws<DirectoryNotFoundException>(() => DurableFile.Replace(_dir.File("gone/x"), [1]));
    }

    public void Dispose() => _dir.Dispose();
}
