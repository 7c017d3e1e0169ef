"""A one-node SLURM cluster on 127.0.0.1, for trying the SLURM profile and for tests.

``LocalSlurm(folder).start()`` writes /etc/slurm/slurm.conf (SLURM's default place:
the job steps that Snakemake's SLURM plugin starts drop ``SLURM_CONF`` from their
environment, so no other place works), keeps state and logs in ``folder``, makes sure
munged runs (as the munge user, with Debian's key in /etc/munge), starts slurmctld and
slurmd as root and waits until the node is idle; ``stop()`` stops what it started and
removes the configuration it wrote. A slurm.conf that dlcflow did not write is never
touched: start() refuses instead.

The node is declared larger than the machine (``SlurmdParameters=config_overrides``):
8 CPUs, 48 GB and one GPU GRES with no device behind it, so the per-rule requests of
``workflow/profiles/slurm`` fit as they would on a real GPU node. Jobs still run on the
real cores; dlcflow caps its threads at the cores a process may use.

Needs Debian's ``slurmctld slurmd slurm-client munge`` and root (slurmd launches jobs).
From the shell::

    python -m dlcflow.devtools.localslurm start /tmp/slurm
    python -m dlcflow.devtools.localslurm stop /tmp/slurm
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

NODE = "localhost"
PARTITION = "debug"
NODE_CPUS = 8
NODE_MEMORY_MB = 48000
NODE_GPUS = 1  # gres_conf() backs it with one device file
SLURM_ETC = Path("/etc/slurm")
MARKER = "# One-node SLURM made by dlcflow.devtools.localslurm"
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_RUN = Path("/run/munge")
DAEMONS = ("slurmctld", "slurmd", "munged", "sinfo", "sbatch", "squeue", "scancel")


class SlurmError(RuntimeError):
    """The local cluster could not be started."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def slurm_conf(folder: Path, ctld_port: int, slurmd_port: int) -> str:
    """The slurm.conf of a one-node cluster whose files all live in ``folder``."""
    return f"""\
{MARKER}; state and logs in {folder}
ClusterName=dlcflow
SlurmctldHost={NODE}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge=600
KillWait=10
InactiveLimit=0
GresTypes=gpu
NodeName={NODE} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory={NODE_MEMORY_MB} \
Gres=gpu:{NODE_GPUS} State=UNKNOWN
PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""


def gres_conf() -> str:
    """One GPU with no device behind it (/dev/null): jobs asking for a GPU are scheduled
    as on a GPU node and run on the CPU."""
    return f"{MARKER}\nAutoDetect=off\nNodeName={NODE} Name=gpu File=/dev/null\n"


def munge_works() -> bool:
    """True when a munged answers on the default socket."""
    try:
        cred = subprocess.run(["munge", "-n"], capture_output=True, timeout=10, check=True)
        subprocess.run(["unmunge"], input=cred.stdout, capture_output=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def _wait(what: str, ready, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.5)
    tail = ""
    if log is not None and log.exists():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise SlurmError(f"{what} not ready after {timeout:.0f} s{tail}")


def _pid(file: Path) -> int | None:
    try:
        return int(file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill(pid: int | None, timeout: float = 20) -> None:
    if pid is None or not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


@dataclass
class LocalSlurm:
    """A one-node SLURM whose state and logs live in ``folder``; its configuration is
    ``conf`` (SLURM's default place) and the gres.conf beside it."""

    folder: Path
    conf: Path = SLURM_ETC / "slurm.conf"

    def __post_init__(self) -> None:
        self.folder = Path(self.folder).resolve()

    @property
    def gres(self) -> Path:
        return self.conf.parent / "gres.conf"

    def _ours(self) -> bool:
        return self.conf.exists() and self.conf.read_text().startswith(MARKER)

    def node_state(self) -> str:
        """The node's state as sinfo reports it ('' when the controller does not answer)."""
        try:
            out = subprocess.run(
                ["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    def start(self, timeout: float = 60) -> LocalSlurm:
        missing = [name for name in DAEMONS if shutil.which(name) is None]
        if missing:
            raise SlurmError(
                f"{', '.join(missing)} not found: install Debian's slurmctld slurmd "
                "slurm-client munge (`apt-get install slurmctld slurmd slurm-client munge`)"
            )
        if os.geteuid() != 0:
            raise SlurmError("a local SLURM needs root: slurmd launches jobs as their user")
        if self.conf.exists() and not self._ours():
            raise SlurmError(f"{self.conf} exists and was not written by dlcflow: not touched")
        if self._ours() and self.node_state():
            raise SlurmError(
                f"a local SLURM already runs ({self.conf}): stop it with "
                "`python -m dlcflow.devtools.localslurm stop FOLDER`"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        for sub in ("state", "spool"):
            (self.folder / sub).mkdir(exist_ok=True)
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(slurm_conf(self.folder, _free_port(), _free_port()))
        self.gres.write_text(gres_conf())
        self._start_munge(timeout)
        subprocess.run(["slurmctld", "-i"], check=True)
        _wait("slurmctld", lambda: self.node_state() != "", timeout, self.folder / "slurmctld.log")
        subprocess.run(["slurmd", "-N", NODE], check=True)
        _wait(
            "slurmd",
            lambda: self.node_state() in ("idle", "mixed", "allocated"),
            timeout,
            self.folder / "slurmd.log",
        )
        return self

    def _start_munge(self, timeout: float) -> None:
        if munge_works():
            return
        if not MUNGE_KEY.exists():
            raise SlurmError(f"{MUNGE_KEY} missing: reinstall munge (it makes the key)")
        for folder in (MUNGE_RUN, Path("/var/log/munge"), Path("/var/lib/munge")):
            folder.mkdir(parents=True, exist_ok=True)
            shutil.chown(folder, "munge", "munge")
        subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True)
        (self.folder / "munged.started").write_text(
            "munged started by dlcflow.devtools.localslurm\n"
        )
        _wait("munged", munge_works, timeout)

    def stop(self) -> None:
        """Stop slurmd and slurmctld, and munged when this cluster started it. Jobs that
        still run are killed with their slurmd."""
        if not self._ours():
            return
        subprocess.run(
            ["scancel", "--full", "--partition", PARTITION],
            capture_output=True,
            timeout=30,
            check=False,
        )
        _kill(_pid(self.folder / "slurmd.pid"))
        _kill(_pid(self.folder / "slurmctld.pid"))
        started = self.folder / "munged.started"
        if started.exists():
            _kill(_pid(MUNGE_RUN / "munged.pid"))
            started.unlink()
        self.conf.unlink()
        if self.gres.exists() and self.gres.read_text().startswith(MARKER):
            self.gres.unlink()

    def __enter__(self) -> LocalSlurm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlcflow.devtools.localslurm", description=__doc__
    )
    parser.add_argument("action", choices=("start", "stop", "status"))
    parser.add_argument("folder", type=Path, help="where configuration, state and logs live")
    args = parser.parse_args(argv)
    cluster = LocalSlurm(args.folder)
    try:
        if args.action == "start":
            cluster.start()
            print(f"local SLURM up: node {NODE}, partition {PARTITION}, logs in {cluster.folder}")
        elif args.action == "stop":
            cluster.stop()
        else:
            print(cluster.node_state() or "down")
    except SlurmError as err:
        print(f"localslurm: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
