"""Fixtures of the end-to-end suite: real `nimbus serve` processes.

- ``nimbus``: one server shared by the whole session (tests use unique names,
  so they stay independent of each other).
- ``start_server(name, *args, tls=False)``: a dedicated server with extra
  `nimbus serve` arguments, stopped at the end of the test.

Every server is stopped by its PID at teardown, also when the test fails or
pytest is interrupted; the logs of servers used by failing tests are copied to
tests/e2e/.artifacts/<label>/ (label: NIMBUS_E2E_LABEL, default "local").
"""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path

import pytest

from nimbus_e2e import REPO, NimbusServer

ARTIFACTS = REPO / "tests" / "e2e" / ".artifacts" / os.environ.get("NIMBUS_E2E_LABEL", "local")


def _raise_interrupt(signum, frame):
    # SIGTERM (e.g. from a CI timeout) runs the teardown like Ctrl-C does.
    raise KeyboardInterrupt(f"signal {signum}")


signal.signal(signal.SIGTERM, _raise_interrupt)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report


def _failed(node) -> bool:
    return any(getattr(node, f"rep_{when}", None) is not None and getattr(node, f"rep_{when}").failed
               for when in ("setup", "call"))


@pytest.fixture(scope="session")
def workdir():
    with tempfile.TemporaryDirectory(prefix="nimbus-e2e-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="session")
def nimbus(request, workdir) -> NimbusServer:
    server = NimbusServer("shared", workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if request.session.testsfailed:
            server.save_artifacts(ARTIFACTS / "shared-server")


@pytest.fixture(scope="session")
def vm_cloud(request, workdir) -> NimbusServer:
    """A server with the default guest image, for the tests that boot real VMs
    (QEMU under TCG here). Its guests and namespaces are torn down at the end."""
    server = NimbusServer("vm", workdir, guest=True)
    try:
        server.start()
        yield server
    finally:
        if request.session.testsfailed:
            server.save_artifacts(ARTIFACTS / "vm-server")
        server.stop()


@pytest.fixture
def start_server(request, workdir):
    started: list[NimbusServer] = []

    def start(name: str, *args: str, tls: bool = False, guest: bool = False) -> NimbusServer:
        server = NimbusServer(f"{request.node.name}-{name}", workdir, args, tls=tls, guest=guest)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        if _failed(request.node):
            server.save_artifacts(ARTIFACTS / server.name)
        server.stop()
