#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine for the end-to-end test of `rdd-sweep --executor slurm`
# (docs/sweeps.md, "Slurm"). Everything lives under $RDD_SLURM_DIR (default /tmp/rdd-slurm): its own munge
# key and socket, slurm.conf, state and spool directories, logs. Controller and node daemon run as root
# (Debian 12's slurmctld/slurmd/slurm-client/munge, installed here if missing), with non-default ports,
# proctrack/linuxproc, task/none, select/cons_tres and no accounting (no slurmdbd, so no sacct).
#
# Prints the one line the caller needs:   export SLURM_CONF=$RDD_SLURM_DIR/slurm.conf
# and writes it to $RDD_SLURM_DIR/env too. Idempotent: stops a cluster it started earlier first.
# Stop it with scripts/slurm/stop-cluster.sh.
set -euo pipefail
DIR=${RDD_SLURM_DIR:-/tmp/rdd-slurm}
CTLD_PORT=${RDD_SLURM_CTLD_PORT:-16817}
SLURMD_PORT=${RDD_SLURM_SLURMD_PORT:-16818}
HERE="$(cd "$(dirname "$0")" && pwd)"

if [ "$(id -u)" != 0 ]; then echo "start-cluster.sh: run as root (the daemons run as root)" >&2; exit 1; fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    echo "start-cluster.sh: installing slurmctld slurmd slurm-client munge" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >&2
fi

bash "$HERE/stop-cluster.sh" >/dev/null 2>&1 || true
rm -rf "$DIR"
mkdir -p "$DIR/state" "$DIR/spool" "$DIR/munge"
chmod 755 "$DIR"
NODE=$(hostname -s)
# Half the machine's memory (slurmd drains a node whose RealMemory exceeds what it has).
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
CPUS=${RDD_SLURM_CPUS:-$(nproc)}

# Munge: its own key, socket and files, so a munged the machine runs is left alone.
dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$DIR/munge"
chmod 755 "$DIR/munge"; chmod 400 "$DIR/munge/munge.key"
runuser -u munge -- munged --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"

cat > "$DIR/slurm.conf" <<CONF
# One-node test cluster written by scripts/slurm/start-cluster.sh
ClusterName=rdd-test
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (default 120 s).
AuthInfo=socket=$DIR/munge/munge.socket,cred_expire=5
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
KillWait=5
MinJobAge=600
InactiveLimit=0
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$DIR/slurm.conf"
echo "export SLURM_CONF=$SLURM_CONF" > "$DIR/env"

slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"

# Wait for the node to come up (idle) — a few seconds.
for i in $(seq 1 60); do
    state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
    case "$state" in idle*|mixed*|allocated*) break ;; esac
    sleep 0.5
done
state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
case "$state" in
    idle*|mixed*|allocated*) ;;
    *) echo "start-cluster.sh: node $NODE did not come up (state '${state}'); logs:" >&2
       tail -n 20 "$DIR/slurmctld.log" "$DIR/slurmd.log" >&2 || true
       exit 1 ;;
esac
echo "start-cluster.sh: node $NODE $state ($CPUS CPUs, ${MEM_MB} MB), controller port $CTLD_PORT, state in $DIR" >&2
echo "export SLURM_CONF=$SLURM_CONF"
