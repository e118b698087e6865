#!/usr/bin/env bash
# Stops the one-node test cluster of scripts/slurm/start-cluster.sh: cancels its jobs, then stops slurmd,
# slurmctld and munged by the pids in their pid files (nothing else is signalled). Keeps the logs.
set -uo pipefail
DIR=${RDD_SLURM_DIR:-/tmp/rdd-slurm}
[ -f "$DIR/slurm.conf" ] && SLURM_CONF="$DIR/slurm.conf" timeout 10 scancel --full --user=root >/dev/null 2>&1
stop() {   # pidfile, process name: TERM, wait up to 10 s, then KILL (only a live process of that name)
    [ -f "$1" ] || return 0
    local pid; pid=$(cat "$1" 2>/dev/null) || return 0
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$2" ] || return 0   # the pid was reused by something else
    kill "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null
}
stop "$DIR/slurmd.pid" slurmd
stop "$DIR/slurmctld.pid" slurmctld
stop "$DIR/munge/munged.pid" munged
echo "stop-cluster.sh: stopped (logs in $DIR)"
