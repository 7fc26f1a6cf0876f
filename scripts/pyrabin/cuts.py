#!/usr/bin/env python3
"""Prints the chunk lengths, one per line, that the real PyRabin cuts FILE into.

    cuts.py FILE MIN AVG MAX    sizes as docker_dedup set them (storage/dal.py)
    cuts.py FILE                the library's defaults (min 2048, avg 8192, max 65536)

Run it with the venv python of scripts/pyrabin/install.sh. The setters are module functions and
their order matters: set_average_block_size rejects a value outside the *current* min/max, so
min, then max, then avg (docker_dedup's commit f5c114b "Fix bug of cdc").
"""
import sys

import rabin


def main(argv):
    if len(argv) not in (2, 5):
        sys.stderr.write(__doc__)
        return 2
    path = argv[1]
    if len(argv) == 5:
        min_size, avg_size, max_size = (int(a) for a in argv[2:5])
        rabin.set_min_block_size(min_size)
        rabin.set_max_block_size(max_size)
        rabin.set_average_block_size(avg_size)
    fingerprints = rabin.get_file_fingerprints(path)
    out = []
    expected_offset = 0
    for offset, length, _poly in fingerprints:
        if offset != expected_offset:
            raise SystemExit("cuts.py: PyRabin returned chunk at %d, expected %d" % (offset, expected_offset))
        expected_offset += length
        out.append("%d\n" % length)
    sys.stdout.write("".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
