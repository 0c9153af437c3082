"""SSE subscribers in their own process, so that parsing their events does not
slow the process that times API requests (the soak test's load generator).

    python -m ladder_dev.subscribers <workdir> <count> <url> [<url> …]

Subscriber i starts on url i mod n and resumes on the next ones. The process
prints `ready` once all are connected, then waits for `<workdir>/expected.json`
(the committed event ids), waits for every subscriber to have them, writes
`<workdir>/received.json` (per subscriber: events, missing, duplicates,
resets, reconnects) and exits.
"""

import json
import sys
import time
from pathlib import Path

from ladder_dev.chaos.stack import Subscriber


def main(workdir: str, count: str, *urls: str) -> int:
    work = Path(workdir)
    subs = [Subscriber([*urls[i % len(urls) :], *urls[: i % len(urls)]]) for i in range(int(count))]
    for sub in subs:
        sub.start()
    for sub in subs:
        sub.connected.wait(30)
    print("ready", flush=True)
    expected_file = work / "expected.json"
    while not expected_file.exists():
        time.sleep(0.1)
    expected = json.loads(expected_file.read_text())
    for sub in subs:
        sub.wait_for(expected, timeout=120)
        sub.stop()
    received = [
        {
            "events": len(sub.ids),
            "missing": len(set(expected) - set(sub.ids)),
            "duplicates": len(sub.ids) - len(set(sub.ids)),
            "in_order": sub.ids == sorted(set(sub.ids)),
            "resets": sub.resets,
            "reconnects": sub.reconnects,
        }
        for sub in subs
    ]
    (work / "received.json").write_text(json.dumps(received))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
