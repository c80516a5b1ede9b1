namespace Teleport.Blocks;

/// <summary>The first <see cref="Count"/> entries of an array, sorted by key.</summary>
internal readonly record struct EntryRun(IndexEntry[] Entries, int Count);
