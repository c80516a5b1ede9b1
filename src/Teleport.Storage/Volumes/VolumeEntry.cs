using Teleport.Blocks;
using Teleport.Nbd.Exports;

namespace Teleport.Storage.Volumes;

/// <summary>
/// A served volume: its file, the tracker its writes mark (taken by a source migration), its NBD export, and the
/// blocks written since the indexer last re-hashed them (null when the worker keeps no index of its volumes).
/// </summary>
public sealed record VolumeEntry(string Name, string Path, IDirtyTracker Tracker, FileNbdExport Export, DirtyBitmap? IndexDirty = null);
