"""The kernel variants side by side: portable baseline vs AVX2 vs AVX-512.

fastgmm builds its hot kernels for every x86-64 CPU (``baseline``, what a wheel
without dispatch would run) and for x86-64-v3/v4, and picks the best at import. This
script times each variant this machine can run on the same workloads, in one run:
one child process per variant (``FASTGMM_KERNELS`` must be set before import),
interleaved repeats, medians, the same per-iteration method as ``compare.py``.

Usage::

    python benchmarks/variants.py                    # W1, W2, W4, small
    python benchmarks/variants.py --workloads W3 W3-f32
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(variant, names, threads, repeats):
    """Runs in a child process with FASTGMM_KERNELS=variant; prints JSON times."""
    sys.path.insert(0, str(HERE))
    import compare
    from fastgmm._kernels import selected_variant
    assert selected_variant == variant, (selected_variant, variant)
    out = {}
    for name in names:
        workload = compare.WORKLOADS[name]
        X = compare.make_data(workload)
        start = compare.initial_parameters(X, workload)
        impls = [f"fastgmm ({t} thr)" for t in threads]
        per_iter, _ = compare.time_per_iteration(impls, X, start, workload, repeats)
        out[name] = {impl: 1e3 * t for impl, t in per_iter.items()}
    print(json.dumps(out))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="*", default=["W1", "W2", "W4", "small"])
    parser.add_argument("--threads", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.workloads, args.threads, args.repeats)
        return
    from fastgmm._kernels import available_variants
    variants = available_variants()
    # Interleave: every variant once per round, `repeats` rounds; median per cell.
    rounds = []
    for _ in range(args.repeats):
        for variant in variants:
            env = {**os.environ, "FASTGMM_KERNELS": variant}
            cmd = [sys.executable, __file__, "--child", variant, "--repeats", "1",
                   "--workloads", *args.workloads, "--threads", *map(str, args.threads)]
            result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            rounds.append((variant, json.loads(result.stdout.strip().splitlines()[-1])))
    command = "python " + " ".join([os.path.relpath(__file__)] + (argv or sys.argv[1:]))
    print(f"# fastgmm kernel variants\n\ncommand: `{command}`  \nmedian of {args.repeats} "
          "interleaved rounds, ms per EM iteration (same data and start)\n")
    header = ["workload", "threads"] + variants + [f"{v} vs baseline" for v in variants[1:]]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * 2 + "---:|" * (len(header) - 2))
    for name in args.workloads:
        for t in args.threads:
            impl = f"fastgmm ({t} thr)"
            cells = {v: statistics.median(r[name][impl] for vv, r in rounds if vv == v)
                     for v in variants}
            row = [name, str(t)] + [f"{cells[v]:.3f}" for v in variants]
            row += [f"{cells['baseline'] / cells[v]:.2f}x" for v in variants[1:]]
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
