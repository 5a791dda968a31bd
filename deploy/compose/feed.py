"""The demo feed for docker-compose: the simulator's observations, in real time, to a server.

``hopwatch demo`` runs the daemon and the simulator in one process on an accelerated clock; in
Compose, Prometheus, Alertmanager and Grafana read a real-time server, so this feed runs the same
simulator (``monitor/examples/demo-sim.yaml``: the signup pipeline and its scheduled faults) at
speed 1 and POSTs each hop's observations to ``$HOPWATCH_URL/v1/observations`` as NDJSON with the
push token ``$HOPWATCH_TOKEN``, as a pipeline's services would. A failed post keeps its
observations for the next round, so a server restart loses nothing.
"""

from __future__ import annotations

import logging
import os
import time

import httpx

from monitor.demo import DEFAULT_SCENARIO, ndjson
from monitor.records import Observation
from monitor.sim import Simulator
from monitor.sim.spec import load_simulation
from monitor.validate import load_config

log = logging.getLogger("hopwatch.compose.feed")


def main() -> None:
    """Feed forever (Compose restarts it); every 5 s what the simulator made since the last."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    url = os.environ.get("HOPWATCH_URL", "http://hopwatch:9464").rstrip("/") + "/v1/observations"
    token = os.environ["HOPWATCH_TOKEN"]
    config = load_config(os.environ.get("HOPWATCH_CONFIG", "/etc/hopwatch/agent.yaml"))
    spec = load_simulation(os.environ.get("HOPWATCH_SCENARIO", str(DEFAULT_SCENARIO)))
    pipeline = config.pipeline(spec.pipeline)
    if pipeline is None:
        raise SystemExit(f"the scenario's pipeline {spec.pipeline!r} is not in the config")
    sim = Simulator(pipeline, spec.to_scenario(start=time.time()))
    headers = {"content-type": "application/x-ndjson", "authorization": f"Bearer {token}"}
    cursor, backlog, sent = sim.start, list[Observation](), 0
    with httpx.Client(timeout=10.0) as client:
        while True:
            now = time.time()
            backlog.extend(sim.observations(cursor, now))
            cursor = now
            try:
                while backlog:
                    chunk = backlog[:2000]
                    client.post(url, content=ndjson(chunk), headers=headers).raise_for_status()
                    del backlog[: len(chunk)]
                    sent += len(chunk)
                log.info("sent %d observations in all", sent)
            except httpx.HTTPError as err:
                log.warning("feed failed, retrying: %r", err)
            time.sleep(5.0)


if __name__ == "__main__":
    main()
