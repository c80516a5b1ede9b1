using Teleport.Blocks;
using Teleport.Nbd.Exports;

namespace Teleport.Storage.Volumes;

/// <summary>A served volume: its file, the tracker its writes mark, and its NBD export.</summary>
public sealed record VolumeEntry(string Name, string Path, IDirtyTracker Tracker, FileNbdExport Export);
