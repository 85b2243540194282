"""``make bench`` entry for :mod:`bench.video_hour.speed` (video with speech and on-screen text at
360p, the 1080p hour): ``python -m bench.video_speed.run --out DIR [--quick]``; ``--quick`` indexes
2 min of each size without the before row. Other options pass through."""
from __future__ import annotations

import sys

from bench.video_hour.speed import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--quick" in args:
        args = [a for a in args if a != "--quick"] + ["--minutes", "2", "--minutes-1080p", "2", "--no-before"]
    sys.exit(main(args))
