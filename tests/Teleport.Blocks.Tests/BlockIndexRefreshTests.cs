namespace Teleport.Blocks.Tests;

/// <summary>Per-block updates of an indexed image rewritten in place (a served volume), and removal of an image.</summary>
public sealed class BlockIndexRefreshTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private string IndexDir => _dir.File("index");

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_refreshed_block_is_found_and_its_old_content_is_not_a_hit_then_leaves_the_index_at_save()
    {
        string image = TestImages.Write(_dir.File("vol.img"), [1, 2, 3]);
        byte[] block = new byte[4096];
        using (var index = BlockIndex.Open(IndexDir))
        {
            index.Update([image]);
            TestImages.Overwrite(image, 1, TestImages.Block(40));
            index.Refresh(TestImages.FingerprintOf(40), image, 1);

            Assert.True(index.TryReadVerified(TestImages.FingerprintOf(40), block));
            Assert.Equal(TestImages.Block(40), block);
            Assert.False(index.TryReadVerified(TestImages.FingerprintOf(2), block));
            Assert.Equal(4, index.Stats.UniqueBlocks); // the stale entry of content 2 is still there ...
            index.Save();
            Assert.Equal(3, index.Stats.UniqueBlocks); // ... until the save drops what lookups found stale
        }

        using var reopened = BlockIndex.Open(IndexDir);
        Assert.True(reopened.TryReadVerified(TestImages.FingerprintOf(40), block));
        Assert.False(reopened.TryReadVerified(TestImages.FingerprintOf(2), block));
        Assert.Equal(1, reopened.Stats.LookupMisses);
        Assert.Equal(0, reopened.Stats.StaleCandidates);
        // Saving took the image's new identity: an update does not read it again.
        Assert.Equal(0, reopened.Update([image]).ImagesScanned);
    }

    [Fact]
    public void May_contain_answers_from_memory_for_indexed_and_received_content()
    {
        string image = TestImages.Write(_dir.File("vol.img"), [1, 2, 3]);
        using var index = BlockIndex.Open(IndexDir);
        index.Update([image]);
        Assert.True(index.MayContain(TestImages.FingerprintOf(2)));
        Assert.False(index.MayContain(TestImages.FingerprintOf(60)));
        TestImages.Overwrite(image, 1, TestImages.Block(60));
        index.Add(TestImages.FingerprintOf(60), image, 1);
        Assert.True(index.MayContain(TestImages.FingerprintOf(60)));
        // An entry gone stale still "may" hold it: only a verified read can tell.
        Assert.True(index.MayContain(TestImages.FingerprintOf(2)));
        Assert.False(index.TryReadVerified(TestImages.FingerprintOf(2), new byte[4096]));
    }

    [Fact]
    public void Content_whose_entry_went_stale_is_repointed_to_its_new_block()
    {
        string image = TestImages.Write(_dir.File("vol.img"), [1, 2, 3]);
        using var index = BlockIndex.Open(IndexDir);
        index.Update([image]);
        // Content 2 moves from block 1 to block 2 (block 1 gets new content): the main table's entry must follow.
        TestImages.Overwrite(image, 1, TestImages.Block(50));
        TestImages.Overwrite(image, 2, TestImages.Block(2));
        index.Refresh(TestImages.FingerprintOf(2), image, 2);
        index.Refresh(TestImages.FingerprintOf(50), image, 1);

        byte[] block = new byte[4096];
        Assert.True(index.TryReadVerified(TestImages.FingerprintOf(2), block));
        Assert.Equal(TestImages.Block(2), block);
        Assert.True(index.TryReadVerified(TestImages.FingerprintOf(50), block));
        Assert.False(index.TryReadVerified(TestImages.FingerprintOf(3), block));
        Assert.Equal(1, index.Stats.StaleCandidates); // only content 3's dead entry
    }

    [Fact]
    public void Content_still_held_elsewhere_is_not_indexed_twice()
    {
        string golden = TestImages.Write(_dir.File("golden.img"), [7]);
        string volume = TestImages.Write(_dir.File("vol.img"), [1, null]);
        using var index = BlockIndex.Open(IndexDir);
        index.Update([golden, volume]);
        TestImages.Overwrite(volume, 1, TestImages.Block(7));
        index.Refresh(TestImages.FingerprintOf(7), volume, 1);
        index.Refresh(TestImages.FingerprintOf(7), volume, 1); // repeated: still nothing new

        Assert.Equal(2, index.Stats.UniqueBlocks);
        byte[] block = new byte[4096];
        Assert.True(index.TryReadVerified(TestImages.FingerprintOf(7), block));
    }

    [Fact]
    public void Refresh_checks_its_arguments()
    {
        string image = TestImages.Write(_dir.File("vol.img"), [1]);
        using var index = BlockIndex.Open(IndexDir);
        Assert.Throws<ArgumentOutOfRangeException>(() => index.Refresh(TestImages.FingerprintOf(1), image, -1));
        Assert.Throws<FileNotFoundException>(() => index.Refresh(TestImages.FingerprintOf(1), _dir.File("missing.img"), 0));
    }

    [Fact]
    public void A_removed_image_leaves_the_index_also_on_disk()
    {
        string keep = TestImages.Write(_dir.File("keep.img"), [1, 2]);
        string gone = TestImages.Write(_dir.File("gone.img"), [3, 4, 2]);
        byte[] block = new byte[4096];
        using (var index = BlockIndex.Open(IndexDir))
        {
            index.Update([keep, gone]);
            Assert.True(index.Remove(gone));
            Assert.False(index.Remove(gone));
            Assert.False(index.Remove(_dir.File("never.img")));

            Assert.False(index.TryReadVerified(TestImages.FingerprintOf(3), block));
            Assert.True(index.TryReadVerified(TestImages.FingerprintOf(2), block));
            Assert.Equal([Path.GetFullPath(keep)], index.Images.Select(i => i.Path));
            index.Save();
        }

        using var reopened = BlockIndex.Open(IndexDir);
        Assert.Equal(2, reopened.Stats.UniqueBlocks);
        Assert.False(reopened.TryReadVerified(TestImages.FingerprintOf(4), block));
    }

    [Fact]
    public void A_removed_image_takes_its_received_blocks_along_and_images_sharing_its_content_are_read_again()
    {
        string gone = TestImages.Write(_dir.File("gone.img"), [2, 3]);
        string keep = TestImages.Write(_dir.File("keep.img"), [1, 2]);
        using var index = BlockIndex.Open(IndexDir);
        index.Update([gone]);
        index.Update([keep]); // keep's content 2 is covered by gone's entry
        TestImages.Overwrite(gone, 1, TestImages.Block(9));
        index.Add(TestImages.FingerprintOf(9), gone, 1);

        Assert.True(index.Remove(gone));
        Assert.False(index.MayContain(TestImages.FingerprintOf(9)));
        Assert.False(index.MayContain(TestImages.FingerprintOf(2)));
        Assert.Equal([Path.GetFullPath(keep)], index.Update([keep]).ScannedPaths);
        Assert.True(index.TryReadVerified(TestImages.FingerprintOf(2), new byte[4096]));
        Assert.Equal(2, index.Stats.UniqueBlocks);
    }
}
