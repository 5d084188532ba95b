"""MPI benchmarks for `python -m baselines_meta.bench`: per-rank throughput of whole runs against one worker pinned to
one core (`--mpi N`), and the measurements behind the cost model of baselines_meta.common.exchange (`--scaling`).

Per-rank throughput: whole training runs of `steps` env steps per worker with evaluation off, each in a child
process, read from the run's progress.csv: whole-run = total/steps / total/duration (start-up, compilation and the
first epoch included), steady state = the median time/fps of the epochs after the first, divided by the number of
ranks. The single worker runs under `taskset -c 0`; the N-rank job under `mpiexec -n N` on the machine's cores.

Scaling: the cost of one fused gradient step at batch sizes 64 to 64 * 64 and of one step of the Allreduce path's
compiled call (one process, one TF thread, as each MPI rank runs), Allgather and Allreduce times at 2 ranks over
message sizes, the latency-plus-bandwidth fits of exchange.CostModel, and from them, with the single pinned
worker's steady-state cycle time, the expected per-rank throughput for N = 2 to 64 ranks.
"""
from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPIEXEC = os.path.join(os.path.dirname(sys.executable), "mpiexec")
NS = (2, 4, 8, 16, 32, 64)  # ranks the scaling table predicts
# Across machines nothing here was measured: a typical 10 GbE TCP link, stated as an assumption in the table.
NETWORK = {"alpha_s": 50e-6, "beta_s_per_byte": 1 / 1.25e9, "what": "assumed 10 GbE TCP: 50 us latency, 1.25 GB/s"}


def _command(alg: str, env_id: str, steps: int, log: str, seed: int, args: tuple) -> list[str]:
    return [sys.executable, "-m", "baselines_meta.run", "--alg", alg, "--env", env_id, "--num_timesteps", str(steps),
            "--eval_episodes", "0", "--log_formats", "csv,log", "--no-progress_bar", "--seed", str(seed), *args,
            "--log_path", log]


def _read(log: str, n_ranks: int) -> dict:
    """Per-rank env steps/s of a finished run: whole run and steady state; the line it logged about its MPI exchange."""
    with open(os.path.join(log, "progress.csv")) as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(log, "log.txt")) as f:
        said = [line.strip() for line in f if line.startswith("MPI:")]
    last = rows[-1]
    steady = [float(x["time/fps"]) / n_ranks for x in rows[1:]] or [float(last["time/fps"]) / n_ranks]
    return {"per_rank": float(last["total/steps"]) / float(last["total/duration"]), "steady": statistics.median(steady),
            "duration_s": float(last["total/duration"]), "exchange": said[0] if said else ""}


def whole_run(alg: str, env_id: str, steps: int, n_ranks: int = 1, pin: str | None = None, args: tuple = (),
              root: str = ROOT, apart: int = 1) -> dict:
    """A run in a child process (the code under `root`): an N-rank job under mpiexec, or (apart > 1) that many
    independent single workers at once, the i-th pinned to core i (their mean). Per-rank figures as _read's."""
    with tempfile.TemporaryDirectory() as d:
        procs = []
        for i in range(apart):
            cmd = _command(alg, env_id, steps, os.path.join(d, f"run{i}"), i, args)
            if n_ranks > 1:
                cmd = [MPIEXEC, "-n", str(n_ranks)] + cmd
            core = str(i) if apart > 1 else pin
            if core is not None:
                cmd = ["taskset", "-c", core] + cmd
            procs.append((cmd, subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                                text=True, env=dict(os.environ, PYTHONPATH=root))))
        for cmd, p in procs:
            err = p.communicate()[1]
            if p.returncode != 0:
                raise RuntimeError(f"run failed ({' '.join(cmd)}): {err.strip()[-500:]}")
        got = [_read(os.path.join(d, f"run{i}"), n_ranks) for i in range(apart)]
    return {k: (statistics.mean(g[k] for g in got) if k != "exchange" else got[0][k]) for k in got[0]}


def per_rank_figures(single: dict, multi: dict) -> dict:
    """Per-rank throughput of an N-rank job as a fraction of one pinned worker's, whole-run and steady state."""
    return {"whole_ratio": multi["per_rank"] / single["per_rank"], "steady_ratio": multi["steady"] / single["steady"]}


def per_rank_rows(env_id: str, n_ranks: int, steps: int, algs=("ddpg", "meta"), baseline_code: str | None = None,
                  reps: int = 1) -> list:
    """For each alg: one worker pinned to core 0; N independent workers at once, one a core (no MPI: what sharing
    the machine alone costs, the ceiling of an N-rank job here); N ranks exchanging gradients, and batches. With
    baseline_code, also its single pinned worker and its N-rank job (its own default path). Each the median of reps
    runs, the configurations interleaved; ratios against the pinned worker of the same code."""
    codes = [("", ROOT)] + ([("before: ", baseline_code)] if baseline_code else [])
    configs = []  # (name, code tag, kwargs of whole_run)
    for alg in algs:
        for tag, root in codes:
            configs.append((f"{tag}{alg}: 1 worker, taskset -c 0", tag, alg, dict(pin="0", root=root)))
            if tag:
                configs.append((f"{tag}{alg}: {n_ranks} ranks", tag, alg, dict(n_ranks=n_ranks, root=root)))
                continue
            if n_ranks <= (os.cpu_count() or 1):
                configs.append((f"{alg}: {n_ranks} independent workers at once, one a core (no MPI)", tag, alg,
                                dict(apart=n_ranks, root=root)))
            for path in ("grads", "batches"):
                configs.append((f"{alg}: {n_ranks} ranks, exchange {path}", tag, alg,
                                dict(n_ranks=n_ranks, args=("--mpi_exchange", path), root=root)))
    runs: dict = {name: [] for name, *_ in configs}
    for _ in range(reps):
        for name, _, alg, kw in configs:
            runs[name].append(whole_run(alg, env_id, steps, **kw))
    out, single = [], {}
    for name, tag, alg, kw in configs:
        got = runs[name]
        med = {k: statistics.median(g[k] for g in got) for k in ("per_rank", "steady", "duration_s")}
        row = {"what": name, "n_ranks": kw.get("n_ranks", 1), **med, "exchange": got[0]["exchange"], "reps": len(got)}
        if kw.get("pin") == "0":
            single[(tag, alg)] = row
        out.append({**row, **per_rank_figures(single[(tag, alg)], row)})
    return out


def per_rank_markdown(rows: list, steps: int) -> list[str]:
    """The markdown lines of the per-rank throughput table (`per_rank_rows`' rows, whole runs of `steps` steps)."""
    lines = ["", f"Per-rank throughput, whole runs of {steps:,} env steps per worker with evaluation off "
             "(whole run: total/steps / total/duration; steady state: median time/fps of the epochs after the "
             "first, per rank), against one worker pinned to one core; medians of the runs' figures:", "",
             "| run | whole run, steps/s a rank | vs 1 pinned worker | steady state, steps/s a rank | vs 1 pinned worker |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['what']} | {r['per_rank']:,.0f} | {r['whole_ratio']:.2f} | {r['steady']:,.0f} | "
                     f"{r['steady_ratio']:.2f} |")
    return lines


# ---------------------------------------------------------------------------------------------- scaling measurements
def _one_thread():
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def step_costs(env_id: str, k: int = 50, reps: int = 5, mults=(1, 2, 4, 8, 16, 32, 64)) -> dict:
    """Child body (one process, one TF thread): seconds per fused gradient step at batch 64 * m, per step of the
    Allreduce path's compiled calls at batch 64 (the Allreduce of one process is a copy), and the sizes exchanged."""
    _one_thread()
    import numpy as np

    from baselines_meta.common.replay import Batch, ReplayBuffer
    from baselines_meta.common.trainer import Trainer
    from baselines_meta.config import DDPGConfig
    from baselines_meta.ddpg.learner import DDPGLearner
    from baselines_meta.runtime.envs import make_env

    env = make_env(env_id)
    O, A = env.observation_space.shape[0], env.action_space.shape[0]
    cfg = DDPGConfig(noise_type="none")
    L = DDPGLearner(O, A, cfg)
    q = np.random.default_rng(0)
    buf = ReplayBuffer(10_000, O, A)
    buf.add_many(q.normal(size=(10_000, O)), q.uniform(-1, 1, (10_000, A)), q.normal(size=10_000),
                 q.normal(size=(10_000, O)), np.zeros(10_000, bool), np.zeros(10_000, bool))
    L.obs_rms.update(buf.obs0)

    def timed(f, arg) -> float:
        f(arg)  # compile
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            f(arg)
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts) / k

    steps = Trainer(L)
    fused = {64 * m: timed(lambda b: float(steps.fused(b).critic), buf.sample(q, 64 * m, k))
             for m in mults}
    many = buf.sample(q, cfg.batch_size, k)
    call = timed(lambda b: steps.pipelined(b), [Batch(*[x[i] for x in many]) for i in range(k)])
    return {"obs_dim": O, "act_dim": A, "k": k, "batch": cfg.batch_size, "fused_step_s": fused, "call_s": call,
            "n_params": steps.n_params}


def collective_times(reps: int = 200) -> dict:
    """Child body under mpiexec -n 2: median seconds of mpi.allgather and mpi.allreduce_mean (the helpers the two paths
    call, numpy overhead included) over message sizes of 256 bytes to 4 MiB (bytes a rank contributes)."""
    import numpy as np

    from baselines_meta.common import mpi

    out = {"allgather": {}, "allreduce": {}}
    for p in range(8, 23, 2):
        nbytes = 2**p
        x = np.ones(nbytes // 4, np.float32)
        for name, f in (("allgather", mpi.allgather), ("allreduce", mpi.allreduce_mean)):
            f(x)
            ts = []
            n = max(10, reps >> max(0, p - 14))
            for _ in range(n):
                mpi.COMM.Barrier()
                t0 = time.perf_counter()
                f(x)
                ts.append(time.perf_counter() - t0)
            # the slower rank's median: a collective ends for both when the later one is done
            out[name][nbytes] = max(mpi.gather(statistics.median(ts)))
    return out


def fit_line(xs, ys) -> tuple[float, float]:
    """Least squares y = a + b x weighted by 1 / y (relative error: the latency counts at small x, the bandwidth at
    large)."""
    import numpy as np

    x, y = np.asarray(xs, float), np.asarray(ys, float)
    b, a = np.polyfit(x, y, 1, w=1 / y)
    return float(a), float(b)


def fit_model(steps: dict, coll: dict):
    """exchange.CostModel from the measurements (dict keys may be JSON strings)."""
    from baselines_meta.common.exchange import CostModel

    rows = sorted((int(b), t) for b, t in steps["fused_step_s"].items())
    s0, s1 = fit_line([b for b, _ in rows], [t for _, t in rows])
    g = sorted((int(m), t) for m, t in coll["allgather"].items())
    r = sorted((int(m), t) for m, t in coll["allreduce"].items())
    ga, gb = fit_line([m for m, _ in g], [t for _, t in g])
    ra, rb = fit_line([m for m, _ in r], [t for _, t in r])
    return CostModel(step0=s0, step_per_row=s1, call=steps["call_s"], gather_alpha=max(ga, 0.0), gather_beta=gb,
                     reduce_alpha=max(ra, 0.0), reduce_beta=rb)


def predict(model, steps: dict, single: dict, alg_shape: dict, overheads: tuple = (1.0, 0.0), ns=NS) -> list[dict]:
    """Per-rank throughput for N ranks: a cycle of S env steps and G groups of K gradient steps takes the single
    pinned worker's steady-state cycle time, with its G fused groups at batch B replaced by the cheaper path's
    (per_rank, ratio: the model alone); then that time times c plus w (per_rank_here, ratio_here), overheads = (c, w):
    the slowdown of sharing the machine and the seconds a cycle waits for the slowest rank, measured at 2 ranks."""
    from baselines_meta.common.exchange import row_floats

    k, b, p = steps["k"], steps["batch"], steps["n_params"]
    f = row_floats(steps["obs_dim"], steps["act_dim"])
    s, g = alg_shape["env_steps"], alg_shape["groups"]
    c, w = overheads
    cycle1 = s / single["steady"]
    other = cycle1 - g * k * model.step(b)
    out = []
    for n in ns:
        tb, tg = model.batches(n, k, b, f), model.grads(n, k, p)
        t = other + g * min(tb, tg)
        out.append({"n": n, "batches_ms": tb * 1e3, "grads_ms": tg * 1e3, "path": "batches" if tb <= tg else "grads",
                    "per_rank": s / t, "ratio": cycle1 / t, "per_rank_here": s / (c * t + w),
                    "ratio_here": cycle1 / (c * t + w)})
    return out


def overheads(model, steps: dict, single: dict, apart: dict, multi: dict, alg_shape: dict) -> tuple[float, float]:
    """(c, w) of predict from steady-state runs: c = one pinned worker's speed / that of each of 2 independent pinned
    workers at once; w = a 2-rank batch-exchange job's cycle time - c * the model's."""
    from baselines_meta.common.exchange import row_floats

    s, g, k, b = alg_shape["env_steps"], alg_shape["groups"], steps["k"], steps["batch"]
    c = single["steady"] / apart["steady"]
    t2 = s / single["steady"] - g * k * model.step(b) + g * model.batches(2, k, b, row_floats(steps["obs_dim"], steps["act_dim"]))
    return c, s / multi["steady"] - c * t2


def network_model(model):
    """The same model with the collectives of NETWORK (across machines) instead of shared memory."""
    return model._replace(gather_alpha=NETWORK["alpha_s"], gather_beta=NETWORK["beta_s_per_byte"],
                          reduce_alpha=2 * NETWORK["alpha_s"], reduce_beta=NETWORK["beta_s_per_byte"])


# env steps and groups of K student steps per cycle (paper schedule): ddpg 200 / 1; meta D_pi + D0 + D1 = 500 / 2
# (the look-ahead on D0 and the update on B; the teacher's one step on 100 rows per cycle is left out)
ALG_SHAPES = {"ddpg": {"env_steps": 200, "groups": 1}, "meta": {"env_steps": 500, "groups": 2}}


def scaling(env_id: str, out_dir: str, steps_whole: int, child) -> dict:
    """Measure, fit and predict; write <out_dir>/mpi_scaling.{json,md}. child(args, mpi_np) runs a bench child."""
    steps = child(["--child-steps", env_id], 0)
    coll = child(["--child-collectives"], 2)
    model = fit_model(steps, coll)
    res = {"env": env_id, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(), "step_costs": steps,
           "collectives_2_ranks": coll, "model": model._asdict(), "network_assumption": NETWORK, "single": {}, "two_runs": {},
           "predictions": {}, "predictions_across_machines": {}}
    from baselines_meta.common.exchange import row_floats

    f = row_floats(steps["obs_dim"], steps["act_dim"])
    for alg, shape in ALG_SHAPES.items():
        single = whole_run(alg, env_id, steps_whole, pin="0")
        apart = whole_run(alg, env_id, steps_whole, apart=2)
        multi = whole_run(alg, env_id, steps_whole, n_ranks=2, args=("--mpi_exchange", "batches"))
        c, w = overheads(model, steps, single, apart, multi, shape)
        res["single"][alg] = single
        res["two_runs"][alg] = {"independent_at_once": apart, "two_ranks_batches": multi, "c": c, "w_s": w}
        res["predictions"][alg] = predict(model, steps, single, shape, (c, w))
        res["predictions_across_machines"][alg] = predict(network_model(model), steps, single, shape, (c, w))
    res["crossover"] = model.crossover(steps["k"], steps["batch"], f, steps["n_params"])
    res["crossover_clip_norm"] = model.crossover(steps["k"], steps["batch"], f, steps["n_params"], clip=True)
    res["crossover_across_machines"] = network_model(model).crossover(steps["k"], steps["batch"], f, steps["n_params"])
    with open(os.path.join(out_dir, "mpi_scaling.json"), "w") as fh:
        json.dump(res, fh, indent=2)
    with open(os.path.join(out_dir, "mpi_scaling.md"), "w") as fh:
        fh.write(scaling_markdown(res))
    return res


def scaling_markdown(res: dict) -> str:
    """<out>/mpi_scaling.md (bench --scaling; the committed one: results/bench/): the measurements, the fitted cost
    model and its predictions, from `res`."""
    m, st, c = res["model"], res["step_costs"], res["collectives_2_ranks"]
    from baselines_meta.common.exchange import row_floats

    f = row_floats(st["obs_dim"], st["act_dim"])
    k, b = st["k"], st["batch"]
    lines = [f"# MPI scaling: {res['env']}", "",
             f"{res['date']}, {res['cpus']} CPUs. Written by `python -m baselines_meta.bench --scaling`; the fit is "
             "`baselines_meta.common.exchange.MEASURED`, which `--mpi_exchange auto` uses.", "",
             "## Measured here", "",
             f"One fused XLA gradient step (DDPG, 64-64 networks, obs {st['obs_dim']}, action {st['act_dim']}, one TF "
             f"thread, {k} steps a call):", "", "| batch | ms a step |", "| ---: | ---: |"]
    lines += [f"| {int(bs):,} | {t * 1e3:.3f} |" for bs, t in sorted(st["fused_step_s"].items(), key=lambda x: int(x[0]))]
    lines += ["", f"Fit: step(b) = {m['step0'] * 1e3:.3f} ms + {m['step_per_row'] * 1e6:.3f} us * b. "
              f"One step of the Allreduce path's compiled call at batch {b} (numpy round trip included, Allreduce "
              f"excluded): {m['call'] * 1e3:.3f} ms.", "",
              "Collectives at 2 ranks (`mpi.allgather`, `mpi.allreduce_mean`; bytes a rank contributes):", "",
              "| bytes | Allgather us | Allreduce us |", "| ---: | ---: | ---: |"]
    for nb in sorted(c["allgather"], key=int):
        lines.append(f"| {int(nb):,} | {c['allgather'][nb] * 1e6:.1f} | {c['allreduce'][nb] * 1e6:.1f} |")
    gbytes, rbytes = 4 * k * b * f, 4 * st["n_params"]
    lines += ["", f"Fits: Allgather {m['gather_alpha'] * 1e6:.1f} us + {m['gather_beta'] * 1e9:.3f} ns a byte; "
              f"Allreduce {m['reduce_alpha'] * 1e6:.1f} us + {m['reduce_beta'] * 1e9:.3f} ns a byte. A group of {k} "
              f"steps exchanges {gbytes:,} bytes a rank ({k} x {b} transitions of {f} floats) by Allgather, or "
              f"{k} Allreduces of {rbytes:,} bytes ({st['n_params']:,} parameters).", "",
              "## Model", "",
              "Per rank and group of K steps: batches = K * step(N * B) + log2(N) * a_g + (N - 1) * m_g * b_g; grads = "
              "K * (call + log2(N) * a_r + 2 (N - 1) / N * m_r * b_r) (recursive-doubling Allgather, Rabenseifner "
              "Allreduce, their latencies a and inverse bandwidths b fitted at N = 2). A rank's cycle takes the single "
              "pinned worker's steady-state cycle time with its fused groups at batch B replaced by the cheaper path. "
              "On one machine it assumes a core per rank.", "",
              "What the model leaves out, measured here at 2 ranks (steady state): c, how much slower each of 2 "
              "independent pinned workers runs when both run at once (no MPI: shared caches, memory bandwidth, the "
              "host), and w, the seconds a 2-rank cycle takes beyond c times the model's (waiting for the slower "
              "rank at each cycle's collectives, and the exchange's own overheads). The 'here' columns are the "
              "model's cycle time times c plus w, both held at their 2-rank values (w grows with N in practice: the "
              "slowest of N ranks sets each cycle's pace).", ""]
    for alg, t in res["two_runs"].items():
        lines.append(f"- {alg}: one pinned worker {res['single'][alg]['steady']:,.0f} env steps/s, each of 2 at once "
                     f"{t['independent_at_once']['steady']:,.0f} (c = {t['c']:.2f}), a rank of a 2-rank job exchanging "
                     f"batches {t['two_ranks_batches']['steady']:,.0f} (w = {t['w_s'] * 1e3:.1f} ms a cycle)")
    lines.append("")
    for where, key in (("One machine (shared memory, the fits above)", "predictions"),
                       (f"Across machines ({res['network_assumption']['what']}; not measured)", "predictions_across_machines")):
        lines += [f"### {where}", ""]
        for alg, preds in res[key].items():
            single = res["single"][alg]
            lines += [f"{alg}: one pinned worker {single['steady']:,.0f} env steps/s in steady state "
                      f"({single['per_rank']:,.0f} over its whole run).", "",
                      "| N | batches ms / group | grads ms / group | path | steps/s a rank (model) | vs 1 worker | "
                      "steps/s a rank (here) | vs 1 worker |",
                      "| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
            lines += [f"| {p['n']} | {p['batches_ms']:.1f} | {p['grads_ms']:.1f} | {p['path']} | {p['per_rank']:,.0f} | "
                      f"{p['ratio']:.2f} | {p['per_rank_here']:,.0f} | {p['ratio_here']:.2f} |" for p in preds]
            lines.append("")
    lines += [f"Crossover: exchanging gradients becomes cheaper from N = {res['crossover']} ranks on one machine "
              f"(with --clip_norm, whose union takes N passes of batch {b}: N = {res['crossover_clip_norm']}), and "
              f"from N = {res['crossover_across_machines']} across machines under the assumed network.", ""]
    return "\n".join(lines)


def main_child(argv: list[str]) -> bool:
    """Bench child bodies of this module; False if argv is none of them."""
    if argv[:1] == ["--child-steps"]:
        print(json.dumps(step_costs(argv[1])))
        return True
    if argv[:1] == ["--child-collectives"]:
        from baselines_meta.common import mpi

        res = collective_times()
        if mpi.rank() == 0:
            print(json.dumps(res))
        return True
    return False
