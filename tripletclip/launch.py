"""Starts one training run as one process per GPU (or per `train.processes` on CPU): in this process when there is
one, `torchrun` on this machine outside SLURM, and `srun` with one task per process inside a SLURM allocation, on
one node or many. Every process runs `python -m tripletclip.train SPEC.json`; tripletclip.train reads its rank from
torchrun's or srun's environment."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from . import data, io, train

log = logging.getLogger(__name__)
SPEC_NAME = "launch.json"


def run(shards: list[str], output_dir: str, method: str, config: dict, seed: int, val_shard: str | None = None,
        nodes: int = 1, processes_per_node: int = 1, log_path: str | None = None, arm: str | None = None,
        view: dict | None = None) -> None:
    """Train loss `method` with `seed` (as arm `arm`, its report row; default: the method's name, reading what
    `view` names beside the shards: tripletclip.data.View's fields) on `nodes` x `processes_per_node` processes;
    the other processes' output goes to `log_path` (the rule's log)."""
    if nodes * processes_per_node == 1:
        train.train(shards, output_dir, method, train.TrainConfig.from_config(config), seed, val_shard=val_shard,
                    arm=arm, view=data.View.from_dict(view))
        return
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    spec = out / SPEC_NAME
    io.write_json(spec, {"shards": shards, "output_dir": str(out), "method": method, "arm": arm, "view": view, "seed": seed,
                         "val_shard": val_shard, "train": config})
    command, env = launch_command(spec, nodes, processes_per_node, int(config.get("threads") or 1), os.environ)
    log.info("%s seed %d on %d node(s) x %d process(es): %s", method, seed, nodes, processes_per_node,
             " ".join(command))
    with open(log_path or os.devnull, "a", encoding="utf-8") as sink:
        done = subprocess.run(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} exited with {done.returncode}: the processes' output is in {log_path}")


def launch_command(spec: Path, nodes: int, per_node: int, threads: int, environ) -> tuple[list[str], dict]:
    """The command line and environment that start every process of a run."""
    env = {**environ, "OMP_NUM_THREADS": str(threads)}
    entry = [sys.executable, "-m", "tripletclip.train", str(spec)]
    if "SLURM_JOB_ID" in env:
        # Rank 0 (the first task of the first node) serves the rendezvous; the port follows from the job id so that
        # two runs sharing a node do not collide.
        env |= {"MASTER_ADDR": first_node(env["SLURM_JOB_ID"]),
                "MASTER_PORT": str(20000 + int(env["SLURM_JOB_ID"]) % 20000)}
        return ["srun", f"--nodes={nodes}", f"--ntasks-per-node={per_node}", f"--cpus-per-task={threads}",
                "--kill-on-bad-exit=1", *entry], env
    if nodes > 1:
        raise ValueError(f"training on {nodes} nodes needs a SLURM allocation (run it through profiles/slurm)")
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={per_node}",
            *entry[1:]], env


def first_node(job_id: str) -> str:
    """The first host of a SLURM job's allocation (rank 0 runs there)."""
    nodelist = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%N"], capture_output=True, text=True,
                              check=True, encoding="utf-8").stdout.strip()
    hosts = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True,
                           check=True, encoding="utf-8").stdout.split()
    if not hosts:
        raise RuntimeError(f"SLURM job {job_id} has no nodes (squeue says {nodelist!r})")
    return hosts[0]
