namespace Teleport.Blocks.Tests;

public class IndexCorruptionTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    private string IndexDir => _dir.File("index");

    public void Dispose() => _dir.Dispose();

    private string BuildSavedIndex()
    {
        string image = TestImages.Write(_dir.File("a.img"), [1, 2, 3, null, 4]);
        using var index = BlockIndex.Open(IndexDir);
        index.Update([image]);
        index.Save();
        return index.FilePath;
    }

    public static TheoryData<string> Damages => ["flip-entry", "flip-image-table", "flip-header", "truncate-tail",
        "truncate-header", "empty", "garbage", "extra-bytes", "wrong-version"];

    [Theory]
    [MemberData(nameof(Damages))]
    public void A_damaged_file_fails_clearly_and_the_index_can_be_rebuilt(string damage)
    {
        string file = BuildSavedIndex();
        byte[] bytes = File.ReadAllBytes(file);
        switch (damage)
        {
            case "flip-entry": bytes[^5] ^= 0x10; break;
            case "flip-image-table": bytes[70] ^= 0x01; break;
            case "flip-header": bytes[25] ^= 0x01; break;
            case "truncate-tail": bytes = bytes[..^10]; break;
            case "truncate-header": bytes = bytes[..20]; break;
            case "empty": bytes = []; break;
            case "garbage": new Random(1).NextBytes(bytes); break;
            case "extra-bytes": bytes = [.. bytes, 0, 0, 0]; break;
            case "wrong-version": bytes[8] = 99; break;
        }
        File.WriteAllBytes(file, bytes);

        var e = Assert.Throws<IndexCorruptException>(() => BlockIndex.Open(IndexDir));
        Assert.Equal(file, e.FilePath);
        Assert.Contains(file, e.Message);
        Assert.Contains("Rebuild", e.Message);

        BlockIndex.Reset(IndexDir);
        using var rebuilt = BlockIndex.Open(IndexDir);
        rebuilt.Update([_dir.File("a.img")]);
        byte[] block = new byte[4096];
        Assert.True(rebuilt.TryReadVerified(TestImages.FingerprintOf(4), block));
        Assert.Equal(TestImages.Block(4), block);
        rebuilt.Save();
        using var reopened = BlockIndex.Open(IndexDir);
        Assert.Equal(4, reopened.Stats.UniqueBlocks);
    }

    [Fact]
    public void A_file_built_for_another_block_size_is_rejected()
    {
        string file = BuildSavedIndex();
        File.Copy(file, Path.Combine(IndexDir, "blocks-512.tpidx"));
        var e = Assert.Throws<IndexCorruptException>(() => BlockIndex.Open(IndexDir, 512));
        Assert.Contains("block size 4096", e.Message);
    }
}
