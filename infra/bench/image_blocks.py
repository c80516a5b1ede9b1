"""Reads an image as BLOCK-sized pieces, for the bench's Python helpers."""


def image_blocks(path, block):
    """Yields every block of PATH in order (the last may be short), as a memoryview valid until the next one."""
    with open(path, "rb", buffering=0) as f:
        while True:
            # Reading many blocks at once keeps the loop cheap; slicing per block is still exact.
            buf = f.read(block * 256)
            if not buf:
                return
            view = memoryview(buf)
            for i in range(0, len(buf), block):
                yield view[i:i + block]
