namespace Teleport.Transfer;

/// <summary>
/// Picks the zstd level so compression never becomes the bottleneck (the idea of zstd --adapt). It starts from the
/// rate limit (slow links get strong compression), or without one from the path's round trip, and then watches the
/// send pipeline (frames are compressed while the previous one goes out): when the link had to wait for a compressed
/// frame for more than a fifth of the time, CPU is the bottleneck and the level goes down; when the next level's
/// predicted CPU time still stays under 70% of the link's time, CPU is spare and the level goes up (not back to a
/// level that starved the link within the last few windows). Changes are rare (every <see cref="WindowFrames"/>
/// frames at most) because each one restarts the zstd window. A fixed level never changes.
/// </summary>
internal sealed class CompressionLevelController
{
    /// <summary>Levels the controller moves along; 6 to 9 is where zstd gains most per CPU second on disk images.</summary>
    private static readonly int[] Ladder = [-5, -1, 1, 3, 6, 9];

    /// <summary>CPU per byte of each rung relative to level 1 (ZstdSharp with long-distance matching, measured).</summary>
    private static readonly double[] Cost = [0.35, 0.6, 1.0, 1.35, 1.95, 2.8];

    /// <summary>Windows to wait before climbing back to a rung the link starved at.</summary>
    private const int Cooldown = 4;

    public const int WindowFrames = 32;

    /// <summary>A round trip at least this long is a WAN: bytes cost more than CPU there.</summary>
    public static readonly TimeSpan WanRoundTrip = TimeSpan.FromMilliseconds(5);

    private readonly bool _adaptive;
    private bool _pathKnown;
    private int _rung, _floor;
    private int _frames;
    private double _busy, _wait, _starved;
    private int _fellFrom = int.MaxValue, _cooldown;

    public CompressionLevelController(int? fixedLevel, ByteRate rate)
    {
        if (fixedLevel is { } level)
        {
            StreamCompressor.ValidateLevel(level);
            Level = level;
            return;
        }

        _adaptive = true;
        _pathKnown = !rate.IsUnlimited;
        double mbit = rate.IsUnlimited ? double.PositiveInfinity : rate.BytesPerSecond * 8 / 1e6;
        // Measured with ZstdSharp on 2 cores: level 6 with long matching keeps ~80 MB/s of raw input, level 3 ~115 MB/s,
        // level 1 ~155 MB/s; disk data compresses 2-4x, so those keep up with about 250, 500 and 800 Mbit/s.
        int start = mbit <= 250 ? 6 : mbit <= 600 ? 3 : 1;
        // On a slow link bytes are what costs time: level 3 (~115 MB/s of input, 40 MB/s even with the CPU shared
        // three ways) still outruns what a 250 Mbit/s link carries after compression, so the level stays at or above it.
        int floor = mbit <= 250 ? 3 : mbit <= 600 ? 1 : Ladder[0];
        _rung = Array.IndexOf(Ladder, start);
        _floor = Array.IndexOf(Ladder, floor);
        Level = start;
    }

    /// <summary>
    /// With no rate limit, the first connection's round trip stands in for the link: a WAN round trip starts and holds the
    /// level where a link of at most 250 Mbit/s would (level 6, floor 3), a LAN keeps the fast start. Later calls change nothing.
    /// </summary>
    public void ObservePath(TimeSpan roundTrip)
    {
        if (!_adaptive || _pathKnown)
            return;
        _pathKnown = true;
        if (roundTrip < WanRoundTrip)
            return;
        _rung = Array.IndexOf(Ladder, 6);
        _floor = Array.IndexOf(Ladder, 3);
        Level = 6;
    }

    /// <summary>The level for the next frame (0: off).</summary>
    public int Level { get; private set; }

    public bool Adaptive => _adaptive;

    /// <summary>
    /// Records one compressed frame: <paramref name="busySeconds"/> reading, hashing and compressing it,
    /// <paramref name="waitSeconds"/> handing it to the link (pacing, TCP backpressure), <paramref name="starvedSeconds"/>
    /// the link waited for it to be ready. Returns true when <see cref="Level"/> changed.
    /// </summary>
    public bool Record(double busySeconds, double waitSeconds, double starvedSeconds)
    {
        if (!_adaptive)
            return false;
        _busy += busySeconds;
        _wait += waitSeconds;
        _starved += starvedSeconds;
        if (++_frames < WindowFrames)
            return false;

        int rung = _rung;
        // Short scheduling hiccups do not count: only a link left waiting a fifth of the time steps the level down.
        double linkTime = _wait + _starved;
        if (_cooldown > 0 && --_cooldown == 0)
            _fellFrom = int.MaxValue;
        if (_starved > 0.2 * linkTime)
        {
            // Starving (even at the floor) keeps the rung above out of reach for a while.
            if (rung > _floor)
                rung--;
            _fellFrom = rung + 1;
            _cooldown = Cooldown;
        }
        else if (rung < Ladder.Length - 1 && rung + 1 < _fellFrom && _starved < 0.05 * linkTime &&
                 _busy * Cost[rung + 1] / Cost[rung] < 0.7 * linkTime)
        {
            // Up only where the next rung's predicted CPU still leaves the link a margin, and not straight back to
            // a rung that just starved it (load on a shared machine comes and goes).
            rung++;
        }
        _frames = 0;
        _busy = _wait = _starved = 0;
        if (rung == _rung)
            return false;
        _rung = rung;
        Level = Ladder[rung];
        return true;
    }
}
