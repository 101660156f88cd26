"""Requests per second of ``matforge serve`` for a filtered query, 10,000 structures.

    python bench/serve.py [--home DIR] [--n 10000] [--requests 600]
                          [--concurrency 4] [--page-limit 20] [--port 0]

Steps:

1. ``--n`` candidates documents in an embedded store (``--home``, a fresh
   temporary folder when not given; a home that already holds them is
   reused): perturbed, strained copies of the real crystals of the offline
   data (the 104 seed hydrides and the 3,953 Materials Project binaries),
   with made-up formation energies and hull distances, the storage score
   computed from them as the candidates builder does;
2. the OPTIMADE builder makes ``optimade_structures`` from them (timed);
3. ``matforge.serve.app.serve`` runs in a child process on a loopback port,
   exactly as ``matforge serve`` does (entries loaded from the embedded store
   into the in-memory backend), without its access log;
4. ``--concurrency`` client threads send ``--requests`` requests of
   ``/v1/structures?filter=elements HAS "H" AND _matforge_storage_score > X``
   (``page_limit`` entries, every field, best score first), twice: once with
   one filter text (its translation is cached after the first request) and
   once with a different threshold ``X`` in every request (every filter is
   parsed afresh).

Prints, per pass, requests per second and the median and 95th-percentile
latency (goal: at least 100 requests/s on the 2-core machine), and the
server's CPU time per request (from /proc: what a request costs whatever else
runs on the machine). Asserts nothing; the client threads share the machine
with the server.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

FILTER = 'elements HAS "H" AND _matforge_storage_score > {threshold}'


def real_structures(shared: Path) -> list:
    """Return the crystals of the offline data: seed hydrides and MP binaries."""
    from pymatgen.core import Structure

    structures = []
    for name in ("hydrides_seed.json.gz", "mp_binaries_reference.json.gz"):
        with gzip.open(shared / name, "rt") as handle:
            for record in json.load(handle):
                s = Structure.from_dict(record["structure"])
                if s.is_ordered and len(s) <= 40:
                    structures.append((record["material_id"], s))
    return structures


def synthetic_candidates(shared: Path, n: int, seed: int = 0) -> list[dict]:
    """``n`` candidates documents: perturbed copies of the real crystals."""
    import numpy as np

    from matforge.core.score import h_weight_fraction, storage_score
    from matforge.settings import ScoreSettings

    SCORE = ScoreSettings()  # noqa: N806
    from matforge.schemas.candidate import CandidateDoc

    rng = np.random.default_rng(seed)
    crystals = real_structures(shared)
    hydrides = [c for c in crystals if "H" in c[1].composition]
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    docs = []
    for i in range(n):
        # one in three from the hydrides, as a hydride campaign's are
        pool = hydrides if i % 3 == 0 else crystals
        known_id, base = pool[int(rng.integers(len(pool)))]
        s = base.copy()
        s.apply_strain(float(rng.uniform(-0.02, 0.02)))
        s.perturb(0.03, seed=int(rng.integers(1 << 30)))
        comp = s.composition
        cid = f"rlx-{i:06d}{zlib.crc32(str(i).encode()):08x}"
        e_form = float(rng.normal(-0.3, 0.35))
        e_hull = float(abs(rng.normal(0.0, 0.08)))
        has_h = comp["H"] > 0
        novel = bool(rng.random() < 0.6)
        doc = CandidateDoc(
            candidate_id=cid,
            relaxed_id=cid,
            generated_id=f"gen-{i:06d}",
            run_id="bench-serve",
            status="candidate",
            structure=s,
            formula=comp.formula.replace(" ", ""),
            reduced_formula=comp.reduced_formula,
            elements=sorted(el.symbol for el in comp.elements),
            nsites=len(s),
            formation_energy_per_atom=e_form,
            e_above_hull=e_hull,
            h_weight_fraction=h_weight_fraction(comp) if has_h else 0.0,
            storage_score=storage_score(
                comp, e_form, SCORE.e_threshold, SCORE.sigma
            ).storage_score
            if has_h
            else None,
            potential="sevennet-0",
            converged=True,
            matched_id=None if novel else known_id,
            same_formula=not novel,
            same_ratio=not novel,
            is_novel=novel,
            is_stable=e_hull <= 0.025,
            relaxed_last_updated=t0,
            known_signature="bench",
            settings_hash="bench",
            last_updated=t0 + timedelta(seconds=i),
        )
        docs.append(doc.with_hash().model_dump())
    return docs


def prepare(home: Path, n: int) -> dict:
    """Fill the embedded store of ``home`` with ``n`` entries; return timings."""
    from matforge.builders.optimade import build_optimade
    from matforge.settings import load_settings
    from matforge.stores import StoreFactory, upsert_documents

    figures: dict = {}
    settings = load_settings(home=home)
    with StoreFactory(settings) as factory:
        have = factory.store("optimade_structures").count()
        if have >= n:
            figures["entries"] = have
            return figures
        started = time.perf_counter()
        docs = synthetic_candidates(settings.shared_data_dir(), n)
        upsert_documents(factory.store("candidates"), docs, "candidate_id")
        figures["make_s"] = time.perf_counter() - started
        started = time.perf_counter()
        summary = build_optimade(factory)
        figures["build_s"] = time.perf_counter() - started
        figures["entries"] = factory.store("optimade_structures").count()
        figures["inserted"] = summary.inserted
    return figures


def start_server(home: Path, port: int) -> tuple[subprocess.Popen, int]:
    """Run ``serve`` in a child process; return it and its port once it answers."""
    if port == 0:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    code = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.WARNING)\n"
        "from matforge.serve.app import serve\n"
        "from matforge.settings import load_settings\n"
        f"serve(load_settings(home={str(home)!r}), host='127.0.0.1', port={port},"
        " log_level='warning', access_log=False)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"the server exited with code {child.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/v1/info")
            if conn.getresponse().status == 200:
                conn.close()
                return child, port
        except OSError:
            time.sleep(0.5)
    child.terminate()
    raise RuntimeError("the server did not answer within 10 minutes")


def cpu_seconds(pid: int) -> float | None:
    """Return the CPU time (user + system) a process has used, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(port: int, paths: list[str], concurrency: int) -> dict:
    """Send every path once over ``concurrency`` keep-alive connections."""
    latencies: list[float] = []
    returned: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()
    queue = list(reversed(paths))

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if not queue:
                    break
                path = queue.pop()
            started = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if response.status != 200:
                    failures.append(f"{response.status} {path}")
                else:
                    returned.append(json.loads(body)["meta"]["data_returned"])
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "failures": len(failures),
        "first_failure": failures[0] if failures else None,
        "requests_per_s": len(latencies) / wall,
        "median_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "median_returned": statistics.median(returned) if returned else 0,
    }


def query(threshold: float, page_limit: int) -> str:
    params = {
        "filter": FILTER.format(threshold=threshold),
        "sort": "-_matforge_storage_score",
        "page_limit": str(page_limit),
    }
    return "/v1/structures?" + urllib.parse.urlencode(params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--page-limit", type=int, default=20)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    home = args.home or Path(tempfile.mkdtemp(prefix="matforge-bench-serve-"))
    print(f"home         : {home}")
    figures = prepare(home, args.n)
    if "build_s" in figures:
        print(
            f"data         : {figures['entries']} entries; candidates made in "
            f"{figures['make_s']:.1f} s, OPTIMADE build {figures['build_s']:.1f} s"
        )
    else:
        print(f"data         : {figures['entries']} entries (reused)")
    started = time.perf_counter()
    child, port = start_server(home, args.port)
    print(
        f"server       : answering on 127.0.0.1:{port} after "
        f"{time.perf_counter() - started:.1f} s (loads the entries)"
    )
    try:
        load(port, [query(0.01, args.page_limit)] * 20, args.concurrency)  # warm up
        passes = {
            "one filter": [query(0.01, args.page_limit)] * args.requests,
            "new filters": [
                query(round(0.005 + 0.00001 * i, 6), args.page_limit)
                for i in range(args.requests)
            ],
        }
        for name, paths in passes.items():
            cpu_before = cpu_seconds(child.pid)
            r = load(port, paths, args.concurrency)
            cpu_after = cpu_seconds(child.pid)
            print(
                f"{name:<13}: {r['requests_per_s']:.0f} requests/s, median "
                f"{r['median_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms "
                f"({r['requests']} requests, {args.concurrency} connections, "
                f"{r['median_returned']:.0f} entries match, {args.page_limit} "
                f"returned; failures: {r['failures']})"
            )
            if cpu_before is not None and cpu_after is not None:
                per = 1000 * (cpu_after - cpu_before) / r["requests"]
                print(
                    f"{'':<13}  server CPU {per:.1f} ms a request "
                    f"(at most {1000 / per:.0f} requests/s on one free core)"
                )
            if r["first_failure"]:
                print(f"               first failure: {r['first_failure']}")
    finally:
        child.terminate()
        child.wait(30)


if __name__ == "__main__":
    main()
