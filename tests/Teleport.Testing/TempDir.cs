namespace Teleport.Testing;

/// <summary>
/// A fresh scratch directory, removed with everything in it on dispose. Its path is short (/tmp/tpXXXX) because
/// Unix socket paths inside it must stay under 108 bytes.
/// </summary>
public class TempDir : IDisposable
{
    public TempDir()
    {
        Path = Directory.CreateTempSubdirectory("tp").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Already gone, or a process still holds a file: the OS cleans /tmp.
        }

        GC.SuppressFinalize(this);
    }
}

/// <summary>The name the block tests use for <see cref="TempDir"/>.</summary>
public sealed class TempDirectory : TempDir;
