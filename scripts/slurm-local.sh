#!/usr/bin/env bash
# A real single-node SLURM cluster on this host, for the profile's tests (docs/cluster.md, "Running on a cluster").
#   scripts/slurm-local.sh start STATE_DIR   munged (unless one already answers), slurmctld, slurmd; returns once
#                                             the node is idle
#   scripts/slurm-local.sh stop STATE_DIR    stops what `start` started, by the process ids it recorded
#   scripts/slurm-local.sh install           Debian's slurm-wlm and munge (CI runs this before `make test`)
# Needs root (slurmd runs jobs as their submitting user) and Debian's slurm-wlm + munge packages. Outside STATE_DIR it
# writes /etc/slurm/slurm.conf (Snakemake's job steps drop SLURM_CONF, so their srun reads the default path; an
# existing file that this script did not write is left alone, and start fails) and munged's socket in /run/munge.
set -euo pipefail

MARK="# written by tripletclip-pipeline's scripts/slurm-local.sh"

usage() { echo "usage: $0 start|stop STATE_DIR | install" >&2; exit 2; }
[[ $# -ge 1 ]] || usage

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds
    local seconds=$1 what=$2; shift 2
    for _ in $(seq $((seconds * 4))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.25
    done
    echo "slurm-local: $what did not happen within ${seconds}s" >&2
    return 1
}

start() {
    local dir=$1 host cpus mem
    for tool in munged slurmctld slurmd sinfo; do
        command -v "$tool" >/dev/null || { echo "slurm-local: $tool not found: $0 install" >&2; exit 3; }
    done
    [[ $(id -u) == 0 ]] || { echo "slurm-local: must run as root (slurmd starts jobs as their user)" >&2; exit 3; }
    rm -rf "$dir"/{ctld,spool}  # a fresh cluster: no jobs left from an earlier start
    mkdir -p "$dir"/{ctld,spool,log}
    host=$(hostname -s)
    cpus=$(nproc)
    # A little less than the machine's memory, so that slurmd accepts the node as configured.
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    if [[ -e /etc/slurm/slurm.conf ]] && ! grep -q "^$MARK" /etc/slurm/slurm.conf; then
        echo "slurm-local: /etc/slurm/slurm.conf exists and is not ours: this host has a SLURM of its own" >&2
        exit 3
    fi
    cat >"$dir/slurm.conf" <<EOF
$MARK
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
# Finished jobs stay visible to squeue, which the profile's status checks read (no accounting here).
MinJobAge=3600
# Without a default, each job would take the whole node's memory and jobs would run one at a time.
DefMemPerCPU=1000
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    mkdir -p /etc/slurm
    cp "$dir/slurm.conf" /etc/slurm/slurm.conf
    export SLURM_CONF=/etc/slurm/slurm.conf
    if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        mkdir -p /run/munge /var/log/munge /var/lib/munge
        chown munge:munge /run/munge /var/log/munge /var/lib/munge
        [[ -f /etc/munge/munge.key ]] || { runuser -u munge -- mungekey --create 2>/dev/null || \
            { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; \
              chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }; }
        runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
        wait_for 10 "munged answering" bash -c "munge -n | unmunge"
        cp /run/munge/munged.pid "$dir/munged.pid"   # ours to stop; a munged we found running is left alone
    fi
    /usr/sbin/slurmctld -f "$SLURM_CONF"
    wait_for 20 "slurmctld answering" scontrol ping
    /usr/sbin/slurmd -f "$SLURM_CONF"
    wait_for 30 "the node turning idle" bash -c "sinfo -h -o %t | grep -qx idle"
}

stop() {
    local dir=$1 daemon pid
    for daemon in slurmd slurmctld munged; do
        [[ -f "$dir/$daemon.pid" ]] || continue
        pid=$(cat "$dir/$daemon.pid")
        kill "$pid" 2>/dev/null || true
        wait_for 20 "$daemon ($pid) exiting" bash -c "! kill -0 $pid" || kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/$daemon.pid"
    done
    if grep -qs "^$MARK" /etc/slurm/slurm.conf; then rm -f /etc/slurm/slurm.conf; fi
}

case $1 in
    start) [[ $# == 2 ]] || usage; start "$(realpath -m "$2")" ;;
    stop) [[ $# == 2 ]] || usage; stop "$(realpath -m "$2")" ;;
    install)
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends slurm-wlm munge \
            || { apt-get update && apt-get install -y --no-install-recommends slurm-wlm munge; } ;;
    *) usage ;;
esac
