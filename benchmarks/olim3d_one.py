"""One linear_3d (or rotational_3d) olim solve at n^3: prints a JSON line with the errors over the
standard region (K-cell margin, below the boundary's lowest exact V) and over the fixed box
|x_i| <= 0.5, the seconds and the peak RSS. Run: ``python benchmarks/olim3d_one.py N [problem] [K or -] [--plain]`` (``--plain``: without the
curvature correction)."""

from __future__ import annotations

import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from solvers import PROBLEMS, run_one  # noqa: E402

if __name__ == "__main__":
    n = int(sys.argv[1])
    name = sys.argv[2] if len(sys.argv) > 2 else "linear_3d"
    opts = {"K": int(sys.argv[3])} if len(sys.argv) > 3 and sys.argv[3] != "-" else {}
    if "--plain" in sys.argv:
        opts["correction"] = False
    prob = PROBLEMS[name]()
    run_one(prob, "olim", 9, opts, repeats=1, warmup=False)  # compile / load the numba caches
    t = time.perf_counter()
    sec, mx, rms, K, imx, irms, _ = run_one(prob, "olim", n, opts, repeats=1, warmup=False)
    wall = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # GiB (ru_maxrss in KiB)
    print(
        json.dumps(
            {
                "problem": name,
                "n": n,
                "K": K,
                "plain": "--plain" in sys.argv,
                "seconds": round(sec, 2),
                "wall_with_errors": round(wall, 2),
                "max": mx,
                "rms": rms,
                "box_max": imx,
                "box_rms": irms,
                "peak_rss_gib": round(rss, 3),
                "load": os.getloadavg(),
                "date": time.strftime("%Y-%m-%d %H:%M"),
            }
        ),
        flush=True,
    )
