"""Real servers for the integration tests: a single-node Apache Kafka (KRaft) and PostgreSQL.

Used by the fixtures in conftest.py. The Kafka jars come from ``tools/setup.d/20-kafka.sh``,
PostgreSQL from ``tools/setup.d/10-postgresql.sh``; a server that cannot start fails the test
loudly with the tail of its log.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
KAFKA_LIBS = REPO / "tools" / "cache" / "kafka-libs"
START_TIMEOUT_S = 90.0


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster in a temporary directory, removed at the end."""
    workdir = Path(tempfile.mkdtemp(prefix="driftloop-pg-"))
    server = PostgresServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def new_topic(bootstrap: str, partitions: int = 3, prefix: str = "events") -> str:
    """A topic of this test's own on the broker at ``bootstrap``: its name."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()
    return name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited with {process.returncode} while starting:\n{_tail(log)}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)  # polling a port that is not open yet; no event to wait on
    pytest.fail(f"{what} did not open {host}:{port} within {START_TIMEOUT_S:.0f}s:\n{_tail(log)}")


class KafkaServer:
    """A single-node KRaft broker+controller on a free 127.0.0.1 port, restartable on the same port."""

    def __init__(self, workdir: Path, partitions: int = 3) -> None:
        if not list(KAFKA_LIBS.glob("kafka_2.13-*.jar")):
            pytest.fail(f"no Kafka jars in {KAFKA_LIBS}: run tools/setup.d/20-kafka.sh (make setup)")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.log = workdir / "broker.log"
        self.config = workdir / "server.properties"
        self.config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={workdir / 'data'}",
                    f"num.partitions={partitions}",
                    "auto.create.topics.enable=true",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=3",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                ]
            )
            + "\n"
        )
        (workdir / "log4j2.properties").write_text(
            "rootLogger.level=INFO\nrootLogger.appenderRef.out.ref=out\n"
            "appender.out.type=Console\nappender.out.name=out\n"
            "appender.out.layout.type=PatternLayout\nappender.out.layout.pattern=[%d] %p %m (%c)%n\n"
            "logger.kafka.name=kafka\nlogger.kafka.level=WARN\n"
            "logger.apache.name=org.apache.kafka\nlogger.apache.level=WARN\n"
        )
        self.process: subprocess.Popen[bytes] | None = None
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(self.config), wait=True)

    def _java(self, main: str, *args: str, wait: bool) -> subprocess.Popen[bytes]:
        command = [
            "java",
            "-Xms256m",
            "-Xmx512m",
            "-XX:+UseSerialGC",
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp",
            f"{KAFKA_LIBS}/*",
            main,
            *args,
        ]
        with self.log.open("ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        if wait and process.wait(timeout=120) != 0:
            pytest.fail(f"{main} {' '.join(args[:1])} failed:\n{_tail(self.log)}")
        return process

    def start(self) -> None:
        self.process = self._java("kafka.Kafka", str(self.config), wait=False)
        _wait_for_port("127.0.0.1", self.port, self.process, self.log, "Kafka broker")
        self._wait_for_metadata()

    def _wait_for_metadata(self) -> None:
        """The port opens before the broker serves requests: wait until it answers a metadata call."""
        import asyncio

        from aiokafka.admin import AIOKafkaAdminClient

        async def ask() -> None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
            await admin.start()
            try:
                await admin.describe_cluster()
            finally:
                await admin.close()

        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                asyncio.run(ask())
                return
            except Exception as exc:
                if time.monotonic() > deadline or (self.process and self.process.poll() is not None):
                    pytest.fail(f"Kafka broker does not answer metadata ({exc!r}):\n{_tail(self.log)}")
                time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing is flushed or handed over."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=30)
        self.process = None


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    if found:
        return found[-1]
    located = shutil.which(name)
    if located is None:
        pytest.fail(f"PostgreSQL's {name} not found: run tools/setup.d/10-postgresql.sh (make setup)")
    return located


class PostgresServer:
    """A throwaway PostgreSQL cluster in a temporary directory, run as a non-root user."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.data = workdir / "data"
        self.log = workdir / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        # PostgreSQL refuses to run as root (CI runs as root): run it as the `postgres` user then.
        self.user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if self.user is not None:
            os.chown(workdir, self.user.pw_uid, self.user.pw_gid)
        self.process: subprocess.Popen[bytes] | None = None
        self._run([_postgres_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync"])

    def _popen(self, command: list[str]) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            if self.user is not None:
                os.chown(self.log, self.user.pw_uid, self.user.pw_gid)
                return subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.workdir,
                    user=self.user.pw_uid,
                    group=self.user.pw_gid,
                    extra_groups=[],
                )
            return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)

    def _run(self, command: list[str]) -> None:
        if self._popen(command).wait(timeout=120) != 0:
            pytest.fail(f"{command[0]} failed:\n{_tail(self.log)}")

    def start(self) -> None:
        self.process = self._popen(
            [
                _postgres_bin("postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.workdir),
                # A throwaway cluster: durability against power loss is not what the tests check.
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=50",
            ]
        )
        _wait_for_port("127.0.0.1", self.port, self.process, self.log, "PostgreSQL")
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                psycopg.connect(self.dsn, connect_timeout=2).close()
                return
            except psycopg.OperationalError as exc:  # "the database system is starting up"
                if time.monotonic() > deadline or self.process.poll() is not None:
                    pytest.fail(f"PostgreSQL does not accept connections ({exc}):\n{_tail(self.log)}")
                time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open connections are cut, as in a real restart."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGINT)
            self.process.wait(timeout=60)
        self.process = None

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url.rsplit("/", 1)[0] + f"/{name}"
