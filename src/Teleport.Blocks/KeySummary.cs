namespace Teleport.Blocks;

/// <summary>
/// What the index keeps in RAM of its on-disk table: a directory of bucket starts by the key's top bits (about 12
/// entries a bucket) and, per entry, a 16-bit tag of the next key bits. A lookup scans its bucket's tags and reads an
/// entry from disk only where a tag matches, so a miss costs no I/O (a false tag match happens about once in 5,000
/// misses) and the whole costs about 2.4 bytes per entry. Both arrays sit in one native block in huge pages
/// (<see cref="HugePageMemory"/>), so a probe costs its two cache misses and no page walks.
/// </summary>
internal sealed unsafe class KeySummary : IDisposable
{
    private const int EntriesPerBucket = 12, MinBits = 8, MaxBits = 30, TagBits = 16;

    private readonly int _bits;
    private readonly HugePageMemory _memory;
    private readonly uint* _starts; // bucket b's entries are [_starts[b], _starts[b + 1])
    private readonly ushort* _tags;
    private readonly int _startCount, _capacity;
    private int _count, _bucket;

    /// <summary>An empty summary sized for <paramref name="capacity"/> entries, to be filled in key order.</summary>
    public KeySummary(long capacity)
    {
        if (capacity > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(capacity), $"An index table holds at most {Array.MaxLength} entries.");
        _bits = Math.Clamp((int)Math.Ceiling(Math.Log2(Math.Max(1, capacity / EntriesPerBucket))), MinBits, MaxBits);
        _startCount = (1 << _bits) + 1;
        _capacity = (int)capacity;
        _memory = HugePageMemory.Allocate(MemoryBytes);
        _starts = (uint*)_memory.Pointer;
        _tags = (ushort*)(_starts + _startCount);
    }

    public int Count => _count;

    public long MemoryBytes => (long)_startCount * sizeof(uint) + (long)_capacity * sizeof(ushort);

    /// <summary>Appends the next entry's key (keys ascending).</summary>
    public void Append(ulong keyHigh)
    {
        int bucket = Bucket(keyHigh);
        while (_bucket <= bucket)
            _starts[_bucket++] = (uint)_count;
        if (_count >= _capacity)
            throw new InvalidOperationException($"The summary was sized for {_capacity} entries.");
        _tags[_count++] = Tag(keyHigh);
    }

    /// <summary>Closes the directory once every entry was appended.</summary>
    public void Complete()
    {
        if (_count != _capacity)
            throw new InvalidOperationException($"The summary was sized for {_capacity} entries but got {_count}.");
        while (_bucket < _startCount)
            _starts[_bucket++] = (uint)_count;
    }

    /// <summary>The range of entries that may hold <paramref name="keyHigh"/>, and the tag to look for in it.</summary>
    public (int Start, int End, ushort Tag) Range(ulong keyHigh)
    {
        int bucket = Bucket(keyHigh);
        return ((int)_starts[bucket], (int)_starts[bucket + 1], Tag(keyHigh));
    }

    /// <summary>The next entry at or after <paramref name="from"/> and before <paramref name="end"/> with <paramref name="tag"/>, or -1.</summary>
    public int NextMatch(int from, int end, ushort tag)
    {
        int at = new ReadOnlySpan<ushort>(_tags + from, end - from).IndexOf(tag);
        return at < 0 ? -1 : from + at;
    }

    public void Dispose() => _memory.Dispose();

    private int Bucket(ulong keyHigh) => (int)(keyHigh >> (64 - _bits));

    private ushort Tag(ulong keyHigh) => (ushort)(keyHigh >> (64 - _bits - TagBits));
}
