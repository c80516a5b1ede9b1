namespace Teleport.Blocks;

/// <summary>
/// What a batched lookup carries from key to key (<see cref="BlockIndex.ReadVerified"/>): the anchor, where the
/// previous key's content was found (0: none, the next keys go to the entry path), and how many keys the next entry
/// round takes. Prediction starts only where the entry path shows locality (a round's last two keys found in adjacent
/// blocks), so keys with none (random order) cost no failed predictions, only entry rounds that widen fourfold each
/// (a few per batch); after a prediction that failed past a run, the next round is two keys, the fewest that show it.
/// </summary>
internal struct Locality(bool predicts)
{
    private const int FirstWindow = 2, MaxWindow = 1 << 16;

    /// <summary>Where the previous key's content is (an index location), 0 when unknown.</summary>
    public ulong Anchor;

    /// <summary>Keys the next entry round takes: all of them when nothing is predicted.</summary>
    public int Window { get; private set; } = predicts ? FirstWindow : MaxWindow;

    /// <summary>After a prediction that found <paramref name="hits"/> keys in a row and, when <paramref name="stoppedEarly"/>, failed at the next.</summary>
    public void Predicted(int hits, bool stoppedEarly)
    {
        if (!stoppedEarly)
            return;
        Anchor = 0;
        Window = hits > 0 ? 2 : Widened;
    }

    /// <summary>
    /// After an entry round whose last two keys were found at <paramref name="beforeLast"/> and <paramref name="last"/>
    /// (0: not found, or not in this round): the next keys are predicted after <paramref name="last"/> when the two
    /// are adjacent blocks.
    /// </summary>
    public void Located(ulong beforeLast, ulong last)
    {
        bool run = predicts && beforeLast != 0 && last == beforeLast + 1;
        Anchor = run ? last : 0;
        if (!run)
            Window = Widened;
    }

    private readonly int Widened => Math.Min(Window * 4, MaxWindow);
}
