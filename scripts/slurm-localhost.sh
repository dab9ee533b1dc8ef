#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for testing `--emit-slurm` job arrays end to end
# (no munge: auth/none; runs as the current user, which must be root for slurmd).
#
#   scripts/slurm-localhost.sh start DIR   writes DIR/slurm.conf, starts slurmctld and slurmd,
#                                          waits until the node is idle; prints SLURM_CONF=...
#   scripts/slurm-localhost.sh stop DIR    stops the two daemons started in DIR (by their pids)
#
# Then: SLURM_CONF=DIR/slurm.conf sbatch --wait JOB.sh
# Ports 16817/16818 keep clear of a real cluster's defaults.
set -euo pipefail

cmd=${1:?usage: $0 start|stop DIR}
dir=$(mkdir -p "${2:?usage: $0 start|stop DIR}" && cd "$2" && pwd)
conf=$dir/slurm.conf

stop() {
    for d in slurmd slurmctld; do
        if [[ -f $dir/$d.pid ]]; then
            kill "$(cat "$dir/$d.pid")" 2>/dev/null || true
            rm -f "$dir/$d.pid"
        fi
    done
}

case $cmd in
stop)
    stop
    exit 0
    ;;
start) ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac

command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null || {
    echo "slurm is not installed (apt-get install slurm-wlm)" >&2
    exit 3
}
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ { print int($2 / 1024 * 0.8) }' /proc/meminfo)
user=$(id -un)
mkdir -p "$dir/state" "$dir/spool" "$dir/log"
cat >"$conf" <<EOF
ClusterName=xai-localhost
SlurmctldHost=$host
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/none
CredType=cred/none
SlurmUser=$user
SlurmdUser=$user
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/builtin
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
MaxArraySize=10001
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$conf
slurmctld -c -f "$conf"
slurmd -f "$conf"
for _ in $(seq 60); do
    if sinfo -h -o %T 2>/dev/null | grep -qx idle; then
        echo "SLURM_CONF=$conf"
        exit 0
    fi
    sleep 1
done
echo "the node did not come up; logs in $dir/log" >&2
stop
exit 1
