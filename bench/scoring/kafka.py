"""Scoring with telemetry to Kafka on vs off, in one run (issue 4's overhead figure).

Starts a single-node Kafka broker (KRaft, the jars of ``tools/setup.d/20-kafka.sh``, the same
server class the integration tests use), then runs ``run.py`` with only the driftloop service,
publishing to that broker through the relay process (the default), publishing in process
(``DRIFTLOOP_BUS__RELAY=false``, server e-alt) and with ``DRIFTLOOP_TELEMETRY=false``,
interleaved round by round. Prints the rows and the overheads, and how much CPU the broker took
while the services published to it (it shares the two cores with the service and wrk); asserts
nothing.

    .venv/bin/python bench/scoring/kafka.py [run.py options, e.g. --rounds 3 --seconds 15]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from integration_servers import KafkaServer  # noqa: E402
from run import _parser  # noqa: E402
from run import main as run_main  # noqa: E402
from servers import process_cpu_seconds  # noqa: E402


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="driftloop-bench-kafka-") as work:
        broker = KafkaServer(Path(work))
        broker.start()
        assert broker.process is not None
        options = [
            "--only",
            "e",
            "--telemetry-off",
            "DRIFTLOOP_TELEMETRY=false",
            "--service-env",
            f"DRIFTLOOP_BUS__URL=kafka://{broker.bootstrap}/scoring-bench",
            "--alternative",
            "DRIFTLOOP_BUS__RELAY=false",
            *argv,
        ]
        try:
            before = process_cpu_seconds(broker.process.pid)
            code = run_main(options)
            busy = process_cpu_seconds(broker.process.pid) - before
        finally:
            broker.stop()
    args = _parser().parse_args(options)
    publishing_s = 2 * (args.warmup + args.rounds * args.seconds)  # two services publish; the broker idles otherwise
    print(f"\nbroker CPU while the service published: {busy:.1f} s over {publishing_s:.0f} s of load "
          f"({busy / publishing_s:.0%} of a core)")  # fmt: skip
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
