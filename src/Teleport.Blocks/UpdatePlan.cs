namespace Teleport.Blocks;

/// <summary>
/// What one <see cref="BlockIndex.Update"/> reads: new and changed images, block devices, and images whose shared
/// content lost its entry. Making the plan drops deleted images and the entries of changed and deleted ones.
/// </summary>
internal sealed class UpdatePlan
{
    private UpdatePlan()
    {
    }

    public List<(ImageRecord Image, ImageIdentity Identity)> ToScan { get; } = [];

    public int Skipped { get; private set; }

    public int Removed { get; private set; }

    public long EntriesRemoved { get; private set; }

    /// <summary>Caller holds the index's write lock. <paramref name="requested"/>: full path -> current identity.</summary>
    public static UpdatePlan Make(ImageCatalog images, IndexEntries entries, Dictionary<string, ImageIdentity> requested)
    {
        var plan = new UpdatePlan();
        bool[] invalid = new bool[images.ById.Length];
        bool anyInvalid = false;
        foreach (var image in images.ById)
        {
            if (image is not null && plan.Check(images, image, requested))
                invalid[image.Id] = anyInvalid = true;
        }
        foreach (var (path, identity) in requested)
        {
            if (!images.TryGet(path, out _))
                plan.ToScan.Add((images.Add(path), identity));
        }
        if (anyInvalid)
            plan.EntriesRemoved = entries.Purge(invalid);
        if (plan.EntriesRemoved > 0)
            plan.ToScan.AddRange(images.LoseSharedCoverage());
        return plan;
    }

    // Skips, drops or schedules one covered image; true when its entries are no longer valid.
    private bool Check(ImageCatalog images, ImageRecord image, Dictionary<string, ImageIdentity> requested)
    {
        if (image.Live)
        {
            // Still receiving blocks: its stamps move with every write, so it is taken as is until saved.
            if (requested.ContainsKey(image.Path))
                Skipped++;
            return false;
        }
        var current = requested.TryGetValue(image.Path, out var given) ? given : NativeFile.Stat(image.Path);
        if (current is null)
        {
            images.Remove(image);
            Removed++;
            return true;
        }
        if (image.Identity != current || current.Value.IsBlockDevice)
        {
            image.Identity = null; // until the re-scan completes
            image.ResetHandle();
            ToScan.Add((image, current.Value));
            return true;
        }
        if (requested.ContainsKey(image.Path))
            Skipped++;
        return false;
    }
}
