"""Helpers for the Nimbus end-to-end suite.

- ``NimbusServer``: one real ``nimbus serve`` process (temp data dir, free
  127.0.0.1 port, optional TLS, SQLite or a fresh PostgreSQL database), always
  stopped by its PID.
- ``OpenStack``: the real ``openstack`` CLI run as one identity, either through
  the clouds.yaml the server wrote or through explicit ``OS_*`` variables.
- ``Keystone``: direct Keystone v3 calls with ``requests`` (setup and checks
  that need exact status codes and headers).

Environment:
  NIMBUS_BIN                path of the binary (default target/release/nimbus)
  NIMBUS_E2E_DATABASE_URL   PostgreSQL server URL (postgres://user@host:port/db);
                            when set, every server start gets a fresh database
                            on that server instead of SQLite
  NIMBUS_E2E_PG_BIN         directory holding ``createdb`` (else PATH, else
                            /usr/lib/postgresql/*/bin)
  NIMBUS_OPENSTACK          the ``openstack`` executable (default: next to the
                            Python running pytest, else PATH)
"""

from __future__ import annotations

import atexit
import ctypes
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("NIMBUS_BIN") or REPO / "target" / "release" / "nimbus").absolute()
DATABASE_URL = os.environ.get("NIMBUS_E2E_DATABASE_URL") or None
GUEST_DIR = Path(os.environ.get("NIMBUS_GUEST_IMAGE_DIR") or REPO / "guest" / ".out")
ADMIN_PASSWORD = "e2e-Admin-" + uuid.uuid4().hex[:12]
CLI_TIMEOUT = 120
HTTP_TIMEOUT = 30

_live: set[subprocess.Popen] = set()


def unique(prefix: str) -> str:
    """A name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    # If pytest dies without running its teardown, the kernel sends SIGTERM.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _stop(proc: subprocess.Popen, timeout: float = 20) -> int:
    """Stop one process we started, by its PID: SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    _live.discard(proc)
    return proc.returncode


@atexit.register
def _stop_leftovers() -> None:
    for proc in list(_live):
        _stop(proc, 5)


# ---------------------------------------------------------------- PostgreSQL


def _createdb_bin() -> str:
    pg_bin = os.environ.get("NIMBUS_E2E_PG_BIN")
    if pg_bin:
        return str(Path(pg_bin) / "createdb")
    found = shutil.which("createdb")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/createdb"))
    if not candidates:
        raise RuntimeError("NIMBUS_E2E_DATABASE_URL is set but createdb was not found")
    return candidates[-1]


def fresh_database_url() -> str | None:
    """A new, empty database on the NIMBUS_E2E_DATABASE_URL server (None: SQLite)."""
    if not DATABASE_URL:
        return None
    url = urllib.parse.urlsplit(DATABASE_URL)
    name = "nimbus_e2e_" + uuid.uuid4().hex[:12]
    cmd = [_createdb_bin(), "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432)]
    cmd += ["-U", urllib.parse.unquote(url.username or "postgres"), name]
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = urllib.parse.unquote(url.password)
    subprocess.run(cmd, check=True, env=env, timeout=60, capture_output=True)
    return urllib.parse.urlunsplit(url._replace(path="/" + name))


# -------------------------------------------------------------------- server


class NimbusServer:
    """A real `nimbus serve` on 127.0.0.1 with its own data dir (and database)."""

    def __init__(self, name: str, root: Path, args: tuple[str, ...] = (), tls: bool = False,
                 guest: bool = False):
        self.name = name
        self.data_dir = root / name
        self.data_dir.mkdir(parents=True)
        # guest: register the default guest image and expect real VMs, which
        # `stop` then removes with `nimbus teardown`.
        self.guest = guest
        if guest:
            args = ("--guest-image-dir", str(GUEST_DIR), *args)
        self.extra_args = tuple(args)
        self.tls = tls
        self.cert = self.key = None
        if tls:
            self.cert, self.key = make_self_signed_cert(self.data_dir / "tls")
        self.database_url = fresh_database_url()
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.command: list[str] = []

    # URLs and files
    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def identity_url(self) -> str:
        return self.url + "/identity"

    @property
    def clouds_yaml(self) -> Path:
        return self.data_dir / "clouds.yaml"

    @property
    def verify(self):
        """What `requests` should verify TLS against."""
        return str(self.cert) if self.tls else True

    @property
    def stdout_log(self) -> Path:
        return self.data_dir / "stdout.log"

    @property
    def stderr_log(self) -> Path:
        return self.data_dir / "stderr.log"

    def store_args(self) -> list[str]:
        """How `nimbus audit` (and friends) find this server's state."""
        if self.database_url:
            return ["--database", self.database_url]
        return ["--data-dir", str(self.data_dir)]

    # lifecycle
    def start(self, ready_timeout: float = 90) -> "NimbusServer":
        if not BIN.exists():
            raise RuntimeError(f"{BIN} does not exist: run `cargo build --release` (or set NIMBUS_BIN)")
        last_error = ""
        for _attempt in range(3):
            self.port = free_port()
            self.command = [str(BIN), "serve", "--data-dir", str(self.data_dir),
                            "--listen", f"127.0.0.1:{self.port}"]
            if self.database_url:
                self.command += ["--database", self.database_url]
            if self.tls:
                self.command += ["--tls-cert", str(self.cert), "--tls-key", str(self.key)]
            self.command += list(self.extra_args)
            env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
            env["NIMBUS_ADMIN_PASSWORD"] = ADMIN_PASSWORD
            env.setdefault("RUST_BACKTRACE", "1")
            with open(self.stdout_log, "ab") as out, open(self.stderr_log, "ab") as err:
                self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=err, env=env, cwd=self.data_dir,
                                             start_new_session=True, preexec_fn=_die_with_parent)
            _live.add(self.proc)
            try:
                self._wait_ready(ready_timeout)
                return self
            except RuntimeError as exc:
                last_error = str(exc)
                self.stop()
                if "address" not in self.log_tail().lower():  # only retry a port clash
                    break
        raise RuntimeError(f"nimbus did not become ready: {last_error}\n{self.log_tail()}")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nimbus exited with code {self.proc.returncode} during startup")
            try:
                if requests.get(self.url + "/healthz", verify=self.verify, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"/healthz not 200 within {timeout} s")

    def stop(self, timeout: float = 20, teardown: bool = True) -> int | None:
        """Stops the server (SIGTERM). Guests outlive `nimbus serve` by design (the
        next start adopts them); with `teardown`, they and the dataplane go too
        (also for clouds without guests: the bootstrap router has namespaces)."""
        if self.proc is None:
            return None
        code = _stop(self.proc, timeout)
        if teardown:
            self.teardown()
        return code

    def kill9(self) -> None:
        """SIGKILL, as a crash would: nothing is cleaned up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        _live.discard(self.proc)

    def teardown(self) -> None:
        """Removes every guest, DHCP server and namespace of this cloud."""
        proc = subprocess.run([str(BIN), "teardown", "--data-dir", str(self.data_dir)],
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"nimbus teardown failed: {proc.stderr}")

    def ssh(self, server: str, key: Path, *command: str, user: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        """`nimbus ssh SERVER -i KEY -- COMMAND` against this cloud."""
        cmd = [str(BIN), "ssh", "--data-dir", str(self.data_dir)]
        if self.database_url:
            cmd += ["--database", self.database_url]
        cmd += [server, "-i", str(key)]
        if user:
            cmd += ["-l", user]
        cmd += ["--", *command]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def log_tail(self, lines: int = 40) -> str:
        out = []
        for path in (self.stdout_log, self.stderr_log):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path.name} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(out)

    def save_artifacts(self, dest: Path) -> None:
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "command.txt").write_text(" ".join(self.command) + "\n")
        for path in (self.stdout_log, self.stderr_log, self.clouds_yaml):
            if path.exists():
                shutil.copy(path, dest / path.name)
        for console in self.data_dir.glob("instances/*/console.log"):
            shutil.copy(console, dest / f"console-{console.parent.name}.log")

    def audit(self, *args: str) -> subprocess.CompletedProcess:
        """Run `nimbus audit` against this server's store."""
        return subprocess.run([str(BIN), "audit", *self.store_args(), *args], capture_output=True,
                              text=True, timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)

    # clients
    def admin_cli(self) -> "OpenStack":
        return OpenStack.from_cloud(self)

    def user_cli(self, username: str, password: str, **scope: str) -> "OpenStack":
        return OpenStack.from_env(self, username, password, **scope)

    def cli_with(self, label: str, **variables: str) -> "OpenStack":
        return OpenStack.from_vars(self, label, **variables)

    def keystone(self) -> "Keystone":
        return Keystone(self)


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    return cert, key


# ----------------------------------------------------------------- CLI


def _openstack_bin() -> str:
    explicit = os.environ.get("NIMBUS_OPENSTACK")
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "openstack"
    if beside.exists():
        return str(beside)
    found = shutil.which("openstack")
    if not found:
        raise RuntimeError("the openstack CLI is not installed (scripts/test sets up .venv)")
    return found


class CLIError(AssertionError):
    pass


class OpenStack:
    """The real `openstack` CLI, authenticated as one identity."""

    def __init__(self, env: dict[str, str], prefix: list[str], label: str):
        self.env = env
        self.prefix = prefix
        self.label = label

    @staticmethod
    def _base_env() -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env["PYTHONWARNINGS"] = "ignore"
        return env

    @classmethod
    def from_cloud(cls, server: NimbusServer, cloud: str = "nimbus") -> "OpenStack":
        env = cls._base_env()
        env["OS_CLIENT_CONFIG_FILE"] = str(server.clouds_yaml)
        return cls(env, ["--os-cloud", cloud], f"cloud {cloud}")

    @classmethod
    def from_env(cls, server: NimbusServer, username: str, password: str, *,
                 project: str | None = None, project_domain: str = "Default",
                 user_domain: str = "Default", domain: str | None = None) -> "OpenStack":
        """Plain OS_* variables, as a user without a clouds.yaml would do it."""
        env = cls._base_env()
        env.update(OS_AUTH_URL=server.identity_url, OS_IDENTITY_API_VERSION="3",
                   OS_AUTH_TYPE="password", OS_USERNAME=username, OS_PASSWORD=password,
                   OS_USER_DOMAIN_NAME=user_domain, OS_INTERFACE="public")
        if project:
            env.update(OS_PROJECT_NAME=project, OS_PROJECT_DOMAIN_NAME=project_domain)
        if domain:
            env["OS_DOMAIN_NAME"] = domain
        if server.tls:
            env["OS_CACERT"] = str(server.cert)
        return cls(env, [], f"user {username}")

    @classmethod
    def from_vars(cls, server: NimbusServer, label: str, **variables: str) -> "OpenStack":
        """Any other OS_* combination (system scope, application credentials...)."""
        env = cls._base_env()
        env.update(OS_AUTH_URL=server.identity_url, OS_IDENTITY_API_VERSION="3", OS_INTERFACE="public")
        env.update(variables)
        if server.tls:
            env["OS_CACERT"] = str(server.cert)
        return cls(env, [], label)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [_openstack_bin(), *self.prefix, *args]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True,
                              timeout=CLI_TIMEOUT, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise CLIError(f"`openstack {' '.join(args)}` as {self.label} exited {proc.returncode}\n"
                           f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
        return proc

    def json(self, *args: str):
        """Run with `-f json` and return the parsed output."""
        proc = self.run(*args, "-f", "json")
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise CLIError(f"`openstack {' '.join(args)}` printed no JSON: {proc.stdout!r}") from exc

    def fails(self, *args: str, status: int | None = None) -> subprocess.CompletedProcess:
        """Run a command that must fail; with `status`, the HTTP code must be in the message."""
        proc = self.run(*args, check=False)
        if proc.returncode == 0:
            raise CLIError(f"`openstack {' '.join(args)}` as {self.label} succeeded but must fail\n"
                           f"stdout: {proc.stdout}")
        if status is not None and str(status) not in proc.stderr:
            raise CLIError(f"`openstack {' '.join(args)}` as {self.label} failed, but not with "
                           f"{status}:\n{proc.stderr}")
        return proc


# ------------------------------------------------------------ Keystone API


class Keystone:
    """Keystone v3 through `requests`: exact status codes, headers and bodies."""

    def __init__(self, server: NimbusServer):
        self.server = server
        self.v3 = server.identity_url + "/v3"
        self._admin_token: str | None = None

    def request(self, method: str, path: str, token: str | None = None, **kw) -> requests.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if token:
            headers["X-Auth-Token"] = token
        url = path if path.startswith("http") else self.v3 + path
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return requests.request(method, url, headers=headers, verify=self.server.verify, **kw)

    @staticmethod
    def password_auth(username: str, password: str, *, user_domain_id: str = "default",
                      project_id: str | None = None, domain_id: str | None = None) -> dict:
        """A password auth body; scoped to a project or a domain, else unscoped."""
        auth: dict = {"identity": {"methods": ["password"], "password": {"user": {
            "name": username, "domain": {"id": user_domain_id}, "password": password}}}}
        if project_id:
            auth["scope"] = {"project": {"id": project_id}}
        elif domain_id:
            auth["scope"] = {"domain": {"id": domain_id}}
        return {"auth": auth}

    def authenticate(self, username: str, password: str, **scope) -> requests.Response:
        return self.request("POST", "/auth/tokens", json=self.password_auth(username, password, **scope))

    def token(self, username: str, password: str, **scope) -> str:
        resp = self.authenticate(username, password, **scope)
        assert resp.status_code == 201, f"login of {username} failed: {resp.status_code} {resp.text}"
        return resp.headers["X-Subject-Token"]

    def admin_token(self, fresh: bool = False) -> str:
        """A token of the bootstrap admin, scoped by project name as the CLI does it."""
        if self._admin_token is None or fresh:
            body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": ADMIN_PASSWORD}}},
                "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
            resp = self.request("POST", "/auth/tokens", json=body)
            assert resp.status_code == 201, f"admin login failed: {resp.status_code} {resp.text}"
            self._admin_token = resp.headers["X-Subject-Token"]
        return self._admin_token

    def admin(self, method: str, path: str, expect: int | tuple = (200, 201, 204), **kw):
        """An admin call that must answer `expect`; returns the JSON body (or None)."""
        resp = self.request(method, path, token=self.admin_token(), **kw)
        codes = (expect,) if isinstance(expect, int) else expect
        assert resp.status_code in codes, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None

    def get_one(self, path: str, token: str) -> dict:
        resp = self.request("GET", path, token=token)
        assert resp.status_code == 200, f"GET {path}: {resp.status_code} {resp.text}"
        body = resp.json()
        items = next(v for k, v in body.items() if isinstance(v, list))
        assert len(items) == 1, f"GET {path}: expected one item, got {items}"
        return items[0]

    # shortcuts for test setup
    def create_user(self, name: str, password: str, domain_id: str = "default", **extra) -> dict:
        user = {"name": name, "password": password, "domain_id": domain_id, **extra}
        return self.admin("POST", "/users", 201, json={"user": user})["user"]

    def create_project(self, name: str, domain_id: str = "default") -> dict:
        return self.admin("POST", "/projects", 201, json={"project": {"name": name, "domain_id": domain_id}})["project"]

    def create_domain(self, name: str) -> dict:
        return self.admin("POST", "/domains", 201, json={"domain": {"name": name}})["domain"]

    def role_id(self, name: str) -> str:
        return self.get_one(f"/roles?name={name}", token=self.admin_token())["id"]

    def grant(self, role: str, *, user_id: str | None = None, group_id: str | None = None,
              project_id: str | None = None, domain_id: str | None = None) -> None:
        actor = f"users/{user_id}" if user_id else f"groups/{group_id}"
        target = f"projects/{project_id}" if project_id else f"domains/{domain_id}"
        self.admin("PUT", f"/{target}/{actor}/roles/{self.role_id(role)}", 204)
