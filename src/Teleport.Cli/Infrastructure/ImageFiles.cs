namespace Teleport.Cli.Infrastructure;

/// <summary>Checks on the images and volumes a command reads: files, or block devices under /dev/.</summary>
public static class ImageFiles
{
    /// <summary>A mistyped path is the user's to fix before any work starts; a device path is left to the open.</summary>
    /// <param name="paths">Files or device paths.</param>
    /// <param name="kind">What the paths are, for the message ("image", "volume").</param>
    /// <exception cref="UserInputException">A path that is neither a file nor under /dev/.</exception>
    public static void RequireExisting(IEnumerable<string> paths, string kind)
    {
        foreach (string path in paths)
        {
            if (!File.Exists(path) && !path.StartsWith("/dev/", StringComparison.Ordinal))
                throw new UserInputException($"{kind} '{path}' does not exist");
        }
    }
}
