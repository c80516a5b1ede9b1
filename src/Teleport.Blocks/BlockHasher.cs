using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace Teleport.Blocks;

/// <summary>
/// SHA-256 of one block after another on one thread, with as little as possible around the hash itself: libcrypto's
/// own SHA256_Init/Update/Final on a context this object keeps, where .NET's <see cref="IncrementalHash"/> goes through
/// its native shim, clears OpenSSL's error queue and dispatches through EVP on every call (measured: docs/performance.md,
/// issue 18). The same SHA-256, the same OpenSSL code for the compression (SHA-NI where the CPU has it). Where libcrypto's
/// low-level calls cannot be found (not Linux, another OpenSSL build), a kept <see cref="IncrementalHash"/> is used.
/// Not thread-safe.
/// </summary>
internal sealed unsafe class BlockHasher : IDisposable
{
    // sizeof(SHA256_CTX) is 112 bytes (eight state words, the bit count, sixteen data words, num and md_len); room to spare.
    private const int ContextBytes = 256;

    private static readonly Native? Functions = Native.TryLoad();

    private readonly IncrementalHash? _fallback;
    private void* _context;

    /// <summary>A hasher; <paramref name="useLibcrypto"/> false forces the <see cref="IncrementalHash"/> path (tests).</summary>
    public BlockHasher(bool useLibcrypto = true)
    {
        if (useLibcrypto && Functions is not null)
            _context = NativeMemory.AlignedAlloc(ContextBytes, 64);
        else
            _fallback = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    }

    /// <summary>True when libcrypto's low-level calls are used, false on the <see cref="IncrementalHash"/> fallback.</summary>
    public bool Direct => _context is not null;

    /// <summary>Whether this process found libcrypto's low-level SHA-256 calls.</summary>
    public static bool DirectAvailable => Functions is not null;

    public Fingerprint Compute(ReadOnlySpan<byte> data)
    {
        if (_fallback is not null)
            return Fingerprint.Compute(data, _fallback);
        ObjectDisposedException.ThrowIf(_context is null, this);
        Fingerprint fingerprint = default;
        var output = MemoryMarshal.AsBytes(new Span<Fingerprint>(ref fingerprint));
        var f = Functions!;
        fixed (byte* input = data)
        fixed (byte* digest = output)
        {
            // Each returns 1 on success; they cannot fail on a valid context, but a hash is never trusted unchecked.
            if (f.Init(_context) != 1 || f.Update(_context, input, (nuint)data.Length) != 1 || f.Final(digest, _context) != 1)
                throw new CryptographicException("libcrypto's SHA-256 failed.");
        }
        return fingerprint;
    }

    public void Dispose()
    {
        _fallback?.Dispose();
        if (_context is null)
            return;
        NativeMemory.AlignedFree(_context);
        _context = null;
    }

    // The three entry points, found once per process in the libcrypto .NET itself loads (the same file by name).
    private sealed class Native
    {
        public delegate* unmanaged[SuppressGCTransition]<void*, int> Init;
        public delegate* unmanaged<void*, byte*, nuint, int> Update; // a whole block's hash: the runtime may run a GC meanwhile
        public delegate* unmanaged[SuppressGCTransition]<byte*, void*, int> Final;

        public static Native? TryLoad()
        {
            if (!OperatingSystem.IsLinux())
                return null;
            foreach (string name in (string[])["libcrypto.so.3", "libcrypto.so.1.1"])
            {
                if (!NativeLibrary.TryLoad(name, out nint library))
                    continue;
                if (NativeLibrary.TryGetExport(library, "SHA256_Init", out nint init)
                    && NativeLibrary.TryGetExport(library, "SHA256_Update", out nint update)
                    && NativeLibrary.TryGetExport(library, "SHA256_Final", out nint final))
                {
                    return new Native
                    {
                        Init = (delegate* unmanaged[SuppressGCTransition]<void*, int>)init,
                        Update = (delegate* unmanaged<void*, byte*, nuint, int>)update,
                        Final = (delegate* unmanaged[SuppressGCTransition]<byte*, void*, int>)final,
                    };
                }
                NativeLibrary.Free(library);
            }
            return null;
        }
    }
}
