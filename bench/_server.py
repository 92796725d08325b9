"""What the benchmarks share about a running ``kubesmith server``.

Starting and stopping the server is the test suite's own logic (``tests/conftest.py``:
``start_server`` / ``stop_server``), loaded here by file path so the benchmarks start the
server exactly as the tests do without making ``tests`` a package. The rest is small:
client TLS material taken from the admin kubeconfig, and per-process figures read from
``/proc`` (resident memory, CPU seconds) so a benchmark can say where the CPU went.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import yaml

ROOT = Path(__file__).resolve().parents[1]
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _load_conftest() -> ModuleType:
    name = "kubesmith_tests_conftest"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "conftest.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_conftest = _load_conftest()
start_server = _conftest.start_server
stop_server = _conftest.stop_server
RunningServer = _conftest.RunningServer


@dataclass(frozen=True, slots=True)
class ClientTLS:
    """The admin kubeconfig's server URL and credentials, as files (0600) in a directory."""

    server: str
    ca_file: str
    cert_file: str
    key_file: str

    def context(self) -> ssl.SSLContext:
        """A client TLS context: verifies the server against the cluster CA, presents the
        admin client certificate."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def extract_client_tls(kubeconfig: Path, directory: Path) -> ClientTLS:
    """Write the CA, client certificate and key embedded in ``kubeconfig`` to
    ``directory`` (each file 0600 from its first byte)."""
    config = yaml.safe_load(kubeconfig.read_text())
    contexts = {c["name"]: c["context"] for c in config["contexts"]}
    current = contexts[config["current-context"]]
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == current["cluster"])
    user = next(u["user"] for u in config["users"] if u["name"] == current["user"])
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    paths = {}
    for name, data in (("ca.crt", cluster["certificate-authority-data"]),
                       ("client.crt", user["client-certificate-data"]),
                       ("client.key", user["client-key-data"])):
        path = directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, base64.b64decode(data))
        finally:
            os.close(fd)
        paths[name] = str(path)
    return ClientTLS(cluster["server"], paths["ca.crt"], paths["client.crt"],
                     paths["client.key"])


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (``VmRSS`` from /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy since boot (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / _CLOCK_TICKS


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User + system CPU seconds used so far by ``pid`` (all its threads), or by its
    thread ``tid`` alone (the main thread's tid is the pid)."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    text = Path(path).read_text()
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
