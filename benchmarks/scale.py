"""Beyond memory and beyond one process: memory maps, chunk streams and Dask.

Measured side by side in one run (medians of interleaved repeats; ratios within the
run):

* **large memory map**: a float32 ``.npy`` file of ``--gigabytes`` (default 8 GB,
  8 features, a 4-component mixture) fitted through ``np.load(..., mmap_mode="r")``
  in a child process: the default fit (k-means start from a bounded sample, Lloyd
  passes over all rows, then EM) and EM from given parameters, with the peak
  anonymous memory (``RssAnon`` of ``/proc/self/status``, sampled every 20 ms) and
  the peak file-backed memory (``RssFile``: page cache mapped into the process,
  which the kernel reclaims at will). The file's pages are evicted first
  (``posix_fadvise(DONTNEED)``), so the first pass reads from disk.
* **memory map against memory**: EM iterations on a smaller file (``--small-gb``)
  loaded into memory and memory-mapped (cached), same start: time per iteration and
  the ratio (target >= 0.8x).
* **chunk stream against memory**: the same data yielded by a callable in chunks.
* **Dask**: a ``distributed.LocalCluster`` of 2 worker processes (1 thread each, on
  the same 2 cores) against the in-process fit on 2 threads, the data persisted on
  the workers (target >= 0.7x), and the round-trip overhead of one Dask EM
  iteration on a tiny array.

Usage::

    python benchmarks/scale.py                     # 8 GB memory map; several minutes
    python benchmarks/scale.py --gigabytes 1 --small-gb 0.25 --repeats 3   # quicker
    python benchmarks/scale.py --smoke             # seconds (tests)
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np

import fastgmm

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
N_FEATURES = 8
N_COMPONENTS = 4


def _mixture_chunk(rng, n, d=N_FEATURES, k=N_COMPONENTS):
    centres = np.random.default_rng(12345).normal(scale=5.0, size=(k, d))
    labels = rng.integers(0, k, size=n)
    return (centres[labels] + rng.normal(size=(n, d))).astype(np.float32)


def write_npy(path, n_rows, chunk=1 << 22):
    """A float32 (n_rows, 8) .npy file written in chunks, its pages then evicted."""
    header = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                       shape=(n_rows, N_FEATURES))
    rng = np.random.default_rng(0)
    for start in range(0, n_rows, chunk):
        stop = min(start + chunk, n_rows)
        header[start:stop] = _mixture_chunk(rng, stop - start)
    header.flush()
    del header
    evict(path)


def evict(path):
    """Drop the file's pages from the page cache (clean pages; no root needed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def start_parameters():
    """Given start for EM from parameters (the mixture's centres, unit covariances)."""
    centres = np.random.default_rng(12345).normal(scale=5.0, size=(N_COMPONENTS, N_FEATURES))
    shift = np.random.default_rng(1).normal(scale=0.5, size=centres.shape)
    return dict(weights_init=np.full(N_COMPONENTS, 1 / N_COMPONENTS),
                means_init=centres + shift,
                precisions_init=np.stack([np.eye(N_FEATURES)] * N_COMPONENTS))


_MEMORY_CHILD = textwrap.dedent("""
    import json, sys, threading, time, warnings
    import numpy as np
    import fastgmm
    sys.path.insert(0, {here!r})
    from scale import start_parameters

    peaks = {{"RssAnon": 0, "RssFile": 0}}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            with open("/proc/self/status") as status:
                for line in status:
                    key = line.split(":")[0]
                    if key in peaks:
                        peaks[key] = max(peaks[key], int(line.split()[1]) * 1024)
            time.sleep(0.02)

    X = np.load({path!r}, mmap_mode="r")
    with open("/proc/self/status") as status:
        base = {{l.split(":")[0]: int(l.split()[1]) * 1024 for l in status
                 if l.split(":")[0] in peaks}}
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    warnings.simplefilter("ignore")
    out = {{}}
    t = time.perf_counter()
    gm = fastgmm.GaussianMixture(4, covariance_type="full", random_state=0).fit(X)
    out["default_fit_s"] = time.perf_counter() - t
    out["default_n_iter"] = gm.n_iter_
    out["default_lower_bound"] = gm.lower_bound_
    for n_iter in (1, {n_iter}):
        t = time.perf_counter()
        fastgmm.GaussianMixture(4, covariance_type="full", tol=0.0, max_iter=n_iter,
                                **start_parameters()).fit(X)
        out[f"em_{{n_iter}}_s"] = time.perf_counter() - t
    out["em_iterations"] = {n_iter}
    stop.set()
    sampler.join()
    out["peak_rss_anon_bytes"] = peaks["RssAnon"]
    out["base_rss_anon_bytes"] = base["RssAnon"]
    out["peak_rss_file_bytes"] = peaks["RssFile"]
    print("RESULT " + json.dumps(out))
""")


def large_memmap(path, n_iter):
    code = _MEMORY_CHILD.format(here=str(HERE), path=str(path), n_iter=n_iter)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    line = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _em_time(X, n_iter, **kwargs):
    gm = fastgmm.GaussianMixture(N_COMPONENTS, covariance_type="full", tol=0.0,
                                 max_iter=n_iter, **start_parameters(), **kwargs)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm.fit(X)
    return time.perf_counter() - t


def per_iteration(X, repeats, n_lo=2, n_hi=8, **kwargs):
    """Median of (t[n_hi] - t[n_lo]) / (n_hi - n_lo): one-off costs cancel."""
    return [(_em_time(X, n_hi, **kwargs) - _em_time(X, n_lo, **kwargs)) / (n_hi - n_lo)
            for _ in range(repeats)]


def chunks_of(X, rows=1 << 20):
    def chunks():
        for start in range(0, X.shape[0], rows):
            yield X[start:start + rows]
    return chunks


def dask_comparison(X, repeats):
    import dask.array as da
    import distributed
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       silence_logs=50)
    client = distributed.Client(cluster)
    try:
        chunk_rows = -(-X.shape[0] // 16)
        dX = da.from_array(X, chunks=(chunk_rows, N_FEATURES)).persist()
        distributed.wait(dX)
        tiny = da.from_array(X[:2000], chunks=(500, N_FEATURES)).persist()
        distributed.wait(tiny)
        local, clustered, tiny_local, tiny_cluster = [], [], [], []
        for _ in range(repeats):
            local += per_iteration(X, 1, n_threads=2)
            clustered += per_iteration(dX, 1)
            tiny_local += per_iteration(X[:2000], 1, n_threads=2)
            tiny_cluster += per_iteration(tiny, 1)
        return dict(local=local, cluster=clustered, tiny_local=tiny_local,
                    tiny_cluster=tiny_cluster, n_chunks=len(dX.chunks[0]))
    finally:
        client.close()
        cluster.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gigabytes", type=float, default=8.0,
                        help="size of the large memory-mapped file (GB)")
    parser.add_argument("--small-gb", type=float, default=1.0,
                        help="size of the file compared in memory and mapped (GB)")
    parser.add_argument("--dask-gb", type=float, default=0.5,
                        help="size of the data compared on Dask and in-process (GB)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=5,
                        help="EM iterations of the large-file fit from given parameters")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (for tests)")
    parser.add_argument("--dir", default=None, help="where to write the data files")
    parser.add_argument("--output", default=str(RESULTS / "scale"),
                        help="output prefix (.md and .json are written)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.gigabytes, args.small_gb, args.dask_gb = 0.004, 0.002, 0.002
        args.repeats, args.iterations = 1, 2
    row_bytes = 4 * N_FEATURES
    workdir = Path(args.dir or tempfile.mkdtemp(prefix="fastgmm-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = dict(command="python benchmarks/scale.py " + " ".join(argv or sys.argv[1:]),
                   machine=platform.processor() or platform.machine(),
                   cpus=os.cpu_count(), fastgmm=fastgmm.__version__,
                   numpy=np.__version__, python=platform.python_version())
    try:
        big = workdir / "large.npy"
        n_big = int(args.gigabytes * 1e9) // row_bytes
        t = time.perf_counter()
        write_npy(big, n_big)
        results["large"] = dict(rows=n_big, bytes=n_big * row_bytes,
                                write_s=time.perf_counter() - t,
                                **large_memmap(big, args.iterations))
        big.unlink()

        small = workdir / "small.npy"
        n_small = int(args.small_gb * 1e9) // row_bytes
        write_npy(small, n_small)
        mapped = np.load(small, mmap_mode="r")
        in_memory = np.load(small)
        _em_time(mapped, 1)                          # cache the file's pages
        memory, mmapped, streamed = [], [], []
        for _ in range(args.repeats):
            memory += per_iteration(in_memory, 1)
            mmapped += per_iteration(mapped, 1)
            streamed += per_iteration(chunks_of(in_memory), 1)
        results["memmap"] = dict(rows=n_small, memory=memory, memmap=mmapped,
                                 chunks=streamed)
        del mapped
        small.unlink()
        n_dask = int(args.dask_gb * 1e9) // row_bytes
        try:
            results["dask"] = dict(rows=n_dask, **dask_comparison(
                in_memory[:n_dask].copy(), args.repeats))
        except ImportError as exc:
            results["dask"] = dict(skipped=f"dask/distributed not installed ({exc})")
    finally:
        for leftover in workdir.glob("*.npy"):
            leftover.unlink()
    write_report(results, Path(args.output))
    return results


def _ms(values):
    return 1e3 * statistics.median(values)


def write_report(results, prefix):
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".json").write_text(json.dumps(results, indent=2))
    large, memmap, dask_result = results["large"], results["memmap"], results["dask"]
    mib = 2 ** 20
    n = large["em_iterations"]
    em_iter = (large[f"em_{n}_s"] - large["em_1_s"]) / max(1, n - 1)
    lines = [
        "# Scaling out: memory maps, chunk streams, Dask", "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}, {results['cpus']} CPUs; Python "
        f"{results['python']}, numpy {results['numpy']}, fastgmm {results['fastgmm']}.", "",
        f"## Large memory map ({large['bytes'] / 1e9:.1f} GB float32, "
        f"{large['rows']:,} x {N_FEATURES}, K={N_COMPONENTS} full)", "",
        "| measure | value |", "|---|---:|",
        f"| default fit (sample k-means, Lloyd passes, EM), first pass from disk | "
        f"{large['default_fit_s']:.1f} s ({large['default_n_iter']} EM iterations) |",
        f"| EM iteration from given parameters (file cached as far as memory allows) | "
        f"{em_iter:.2f} s ({large['bytes'] / em_iter / 1e9:.2f} GB/s) |",
        f"| peak anonymous memory (RssAnon) | {large['peak_rss_anon_bytes'] / mib:.0f} MiB "
        f"(at start {large['base_rss_anon_bytes'] / mib:.0f} MiB) |",
        f"| peak file-backed memory (RssFile, reclaimable page cache) | "
        f"{large['peak_rss_file_bytes'] / mib:.0f} MiB |", "",
        f"## Memory map and chunk stream against memory ({memmap['rows']:,} rows, cached)",
        "",
        "| source | ms per EM iteration | throughput vs in memory |", "|---|---:|---:|",
        f"| ndarray in memory | {_ms(memmap['memory']):.1f} | 1.00x |",
        f"| np.load(mmap_mode='r') | {_ms(memmap['memmap']):.1f} | "
        f"{_ms(memmap['memory']) / _ms(memmap['memmap']):.2f}x |",
        f"| callable yielding 2**20-row chunks | {_ms(memmap['chunks']):.1f} | "
        f"{_ms(memmap['memory']) / _ms(memmap['chunks']):.2f}x |", ""]
    if "skipped" in dask_result:
        lines += ["## Dask", "", dask_result["skipped"], ""]
    else:
        overhead = _ms(dask_result["tiny_cluster"]) - _ms(dask_result["tiny_local"])
        lines += [
            f"## Dask: LocalCluster (2 processes x 1 thread) against in-process "
            f"(2 threads), {dask_result['rows']:,} rows in {dask_result['n_chunks']} "
            "chunks, persisted", "",
            "| run | ms per EM iteration | throughput vs in-process |", "|---|---:|---:|",
            f"| in-process, 2 threads | {_ms(dask_result['local']):.1f} | 1.00x |",
            f"| LocalCluster | {_ms(dask_result['cluster']):.1f} | "
            f"{_ms(dask_result['local']) / _ms(dask_result['cluster']):.2f}x |",
            f"| round trip of one Dask iteration (2,000 rows, 4 chunks) | "
            f"{_ms(dask_result['tiny_cluster']):.1f} (in-process "
            f"{_ms(dask_result['tiny_local']):.2f}; overhead {overhead:.1f}) | |", ""]
    prefix.with_suffix(".md").write_text("\n".join(lines))
    prefix.with_suffix(".rst").write_text(markdown_to_rst(lines))
    print("\n".join(lines))


def markdown_to_rst(lines):
    """The report's markdown as a reStructuredText fragment for the docs (included by
    ``docs/user_guide/scaling.rst``): headings become rubrics, tables list-tables."""
    out, table = [], []

    def cells(row):
        return [cell.strip().replace("`", "``") for cell in row.strip().strip("|").split("|")]

    def flush():
        if not table:
            return
        header, body = cells(table[0]), [cells(r) for r in table[2:]]
        out.extend([".. list-table::", "   :header-rows: 1", ""])
        for row in [header] + body:
            out.append("   * - " + (row[0] or " "))
            out.extend("     - " + (cell or " ") for cell in row[1:])
        out.append("")
        table.clear()

    for line in lines:
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("# "):
            continue
        if line.startswith("## "):
            out.extend([f".. rubric:: {line[3:]}", ""])
        else:
            out.append(line.rstrip().replace("`", "``").rstrip(" "))
    flush()
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
