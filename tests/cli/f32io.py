"""f32io.py — raw little-endian float32 files for the CLI test helpers."""
import array
import sys


def load(path):
    """The floats of a raw little-endian float32 file, as an array('f')."""
    a = array.array('f')
    with open(path, 'rb') as f:
        a.frombytes(f.read())
    if sys.byteorder != 'little':
        a.byteswap()
    return a
