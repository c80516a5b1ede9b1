namespace Teleport.Blocks;

/// <summary>The index file cannot be trusted. Nothing is served from it; delete it and re-index.</summary>
public sealed class IndexCorruptException : Exception
{
    public IndexCorruptException(string filePath, string reason, Exception? inner = null)
        : base($"Block index file '{filePath}' is corrupt or unreadable: {reason}. " +
               $"Rebuild it: delete the file (BlockIndex.Reset) and run the index update over the images again.", inner)
    {
        FilePath = filePath;
        Reason = reason;
    }

    /// <summary>The index file that failed to load.</summary>
    public string FilePath { get; }

    /// <summary>What was wrong with it.</summary>
    public string Reason { get; }
}
