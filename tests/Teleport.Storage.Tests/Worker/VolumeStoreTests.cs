using Teleport.Storage.Volumes;

namespace Teleport.Storage.Tests.Worker;

public sealed class VolumeStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("teleport-volumes-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData("")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData(".hidden")]
    [InlineData("a/b")]
    [InlineData("../etc/passwd")]
    [InlineData("a\\b")]
    [InlineData("/abs")]
    [InlineData("with space")]
    [InlineData("nul\0byte")]
    public void Refuses_names_that_are_not_plain_file_names(string name)
    {
        var store = new VolumeStore(_dir);
        var e = Assert.Throws<ArgumentException>(() => store.PathOf(name));
        Assert.Contains("not a volume name", e.Message);
        Assert.Throws<ArgumentException>(() => store.Create(name, 4096));
        Assert.Throws<ArgumentException>(() => store.Delete(name));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    [Fact]
    public void Refuses_overlong_names()
    {
        Assert.Throws<ArgumentException>(() => new VolumeStore(_dir).PathOf(new string('a', 201)));
        Assert.EndsWith(new string('a', 200) + ".img", new VolumeStore(_dir).PathOf(new string('a', 200)));
    }

    [Fact]
    public void Creates_sparse_volumes_of_the_asked_size_and_never_overwrites()
    {
        var store = new VolumeStore(_dir);
        string path = store.Create("lamp", 64L << 20);

        Assert.Equal(Path.Combine(_dir, "lamp.img"), path);
        Assert.Equal(64L << 20, new FileInfo(path).Length);
        Assert.True(AllocatedBytes(path) < (1L << 20), $"{AllocatedBytes(path)} bytes allocated: the volume is not sparse");
        File.WriteAllBytes(path + ".keep", [1]);
        Assert.Throws<IOException>(() => store.Create("lamp", 4096));
        Assert.Equal(64L << 20, new FileInfo(path).Length);
    }

    [Fact]
    public void Lists_volumes_by_name_skipping_other_files_and_incoming_volumes()
    {
        var store = new VolumeStore(_dir);
        store.Create("web", 4096);
        store.Create("lamp", 4096);
        store.Create("half", 4096);
        store.MarkIncoming("half");
        File.WriteAllText(Path.Combine(_dir, "notes.txt"), "x");
        File.WriteAllText(Path.Combine(_dir, ".hidden.img"), "x");

        Assert.Equal(["lamp", "web"], store.List());
        Assert.Equal(["half", "lamp", "web"], store.List(includeIncoming: true));

        store.MarkComplete("half");
        Assert.Equal(["half", "lamp", "web"], store.List());
    }

    [Fact]
    public void Delete_removes_the_volume_and_its_migration_state()
    {
        var store = new VolumeStore(_dir);
        store.Create("lamp", 4096);
        store.MarkIncoming("lamp");
        File.WriteAllText(store.SessionStatePathOf("lamp"), "state");

        Assert.True(store.Delete("lamp"));
        Assert.False(store.Delete("lamp"));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_dir));
    }

    private static long AllocatedBytes(string path)
    {
        // stat's %b (512-byte blocks) is what the file really occupies on disk.
        var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%b", path]) { RedirectStandardOutput = true })!;
        string output = stat.StandardOutput.ReadToEnd();
        stat.WaitForExit();
        return long.Parse(output.Trim()) * 512;
    }
}
