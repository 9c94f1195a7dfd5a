"""`labgen class serve` under a class's load, measured with a WebSocket client (not a browser).

python bench/bench_serve.py terminals [--students 30]
    A class of N made by `labgen class create`, served by the real `labgen class serve`
    (its own process, self-signed HTTPS on 127.0.0.1). The lab boxes' sshds are stand-ins
    (tests/sshd_standin.py: asyncssh servers on the seats' ports that echo what is typed),
    because 30 lab boxes do not fit on this 2-core machine. Measures: the login page
    (median and p95 of 50 GETs), each student logging in and opening their terminal, the
    keystroke round trip (one key every 100 ms on every terminal at once, until each has
    typed 60: p50/p95/max), the server's RSS with N sessions, and its idle CPU over 20 s.

python bench/bench_serve.py check CLASS
    "Check my work" on a real hosted class that is up (`labgen class up`): the server
    against CLASS, the first student checks 3 times; median seconds. Run it where the
    boxes' SSH ports are (in the sandbox: `ip netns exec labgen-NAME ...`).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sshd_standin import StandInSshd  # noqa: E402

LABGEN = str(Path(sys.executable).with_name("labgen"))
KEYS_PER_TERMINAL = 60
KEY_EVERY = 0.1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_class(folder: Path, students: int, low: int) -> Path:
    spec = folder / "class.yaml"
    spec.write_text(
        json.dumps(
            {
                "name": "bench",
                "delivery": "hosted",
                "students": students,
                "hosted": {"server": "127.0.0.1", "ssh_ports": f"{low}-{low + 99}"},
            }
        ),
        encoding="utf-8",
    )
    out = folder / "class"
    subprocess.run([LABGEN, "class", "create", str(spec), "--out", str(out)], check=True)
    return out


def seats(class_dir: Path) -> list[tuple[str, int, str]]:
    with (class_dir / "secrets/credentials.csv").open(encoding="utf-8", newline="") as handle:
        return [(r["id"], int(r["ssh_port"]), r["password"]) for r in csv.DictReader(handle)]


def start_server(class_dir: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            LABGEN,
            "class",
            "serve",
            str(class_dir),
            "--listen",
            f"127.0.0.1:{port}",
            "--regrade",
            "0",
        ],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("the server did not start") from None
            time.sleep(0.1)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def no_verify() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the server's own self-signed certificate
    return context


class Student:
    def __init__(self, base: str, student: str, password: str) -> None:
        self.base = base
        self.student = student
        self.password = password
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(ssl=no_verify()),
        )
        self.socket: aiohttp.ClientWebSocketResponse | None = None
        self.rtts: list[float] = []

    async def login(self) -> None:
        response = await self.session.post(
            f"{self.base}/login",
            data={"id": self.student, "password": self.password},
            headers={"Origin": self.base},
        )
        assert response.status == 200 and str(response.url).endswith(f"/s/{self.student}")

    async def open_terminal(self) -> None:
        self.socket = await self.session.ws_connect(
            f"{self.base}/s/{self.student}/terminal", headers={"Origin": self.base}
        )
        await self.read_until("$ ")

    async def read_until(self, wanted: str) -> None:
        assert self.socket is not None
        seen = ""
        while wanted not in seen:
            message = await asyncio.wait_for(self.socket.receive(), 30)
            if message.type == aiohttp.WSMsgType.BINARY:
                seen += message.data.decode("utf-8", "replace")
            elif message.type != aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"{self.student}: terminal closed")

    async def type_keys(self, count: int, offset: float) -> None:
        assert self.socket is not None
        await asyncio.sleep(offset)
        for number in range(count):
            key = "abcdefghijklmnopqrstuvwxyz"[number % 26]
            start = time.perf_counter()
            await self.socket.send_str(json.dumps({"type": "input", "data": key}))
            await self.read_until(key)
            self.rtts.append(time.perf_counter() - start)
            await asyncio.sleep(max(0.0, KEY_EVERY - (time.perf_counter() - start)))

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
        await self.session.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def terminals(count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="labgen-bench-serve-") as temp:
        low = 22200
        class_dir = make_class(Path(temp), count, low)
        desks = seats(class_dir)
        # The stand-in sshds run in a process of their own, as the lab boxes would.
        sshds = subprocess.Popen(
            [sys.executable, "-W", "ignore", __file__, "sshds", str(class_dir)],
            stdout=subprocess.PIPE,
        )
        assert sshds.stdout is not None and sshds.stdout.readline().strip() == b"ready"
        port = free_port()
        server = start_server(class_dir, port)
        base = f"https://127.0.0.1:{port}"
        try:
            idle_rss = rss_mib(server.pid)
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=no_verify())
            ) as http:
                times = []
                for _ in range(50):
                    start = time.perf_counter()
                    async with http.get(base + "/") as response:
                        await response.read()
                        assert response.status == 200
                    times.append(time.perf_counter() - start)
            students = [Student(base, s, p) for s, _, p in desks]
            start = time.perf_counter()
            await asyncio.gather(*(s.login() for s in students))
            await asyncio.gather(*(s.open_terminal() for s in students))
            opened = time.perf_counter() - start
            typing_cpu = cpu_seconds(server.pid)
            await asyncio.gather(
                *(
                    s.type_keys(KEYS_PER_TERMINAL, KEY_EVERY * i / count)
                    for i, s in enumerate(students)
                )
            )
            typing_cpu = cpu_seconds(server.pid) - typing_cpu
            rss = rss_mib(server.pid)
            await asyncio.sleep(2)
            before = cpu_seconds(server.pid)
            await asyncio.sleep(20)
            idle_cpu = (cpu_seconds(server.pid) - before) / 20 * 100
            rtts = [rtt for s in students for rtt in s.rtts]
            for s in students:
                await s.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
            sshds.terminate()
            sshds.wait(timeout=30)
    return {
        "terminals": count,
        "login_page_ms": {
            "median": round(statistics.median(times) * 1000, 1),
            "p95": round(percentile(times, 0.95) * 1000, 1),
        },
        "login_and_open_all_s": round(opened, 2),
        "keystroke_rtt_ms": {
            "count": len(rtts),
            "p50": round(percentile(rtts, 0.5) * 1000, 1),
            "p95": round(percentile(rtts, 0.95) * 1000, 1),
            "max": round(max(rtts) * 1000, 1),
        },
        # Load-independent: the server's CPU time per key typed (in and echoed back).
        "server_cpu_ms_per_key": round(typing_cpu / len(rtts) * 1000, 2),
        "load_average_1min": os.getloadavg()[0],
        "server_rss_mib": {"no_sessions": round(idle_rss, 1), "with_sessions": round(rss, 1)},
        "idle_cpu_percent_of_a_core": round(idle_cpu, 2),
    }


async def check(class_dir: Path) -> dict[str, Any]:
    student, _, password = seats(class_dir)[0]
    port = free_port()
    server = start_server(class_dir, port)
    base = f"https://127.0.0.1:{port}"
    client = Student(base, student, password)
    try:
        await client.login()
        page = await (await client.session.get(f"{base}/s/{student}")).text()
        token = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        seconds = []
        for _ in range(3):
            start = time.perf_counter()
            response = await client.session.post(
                f"{base}/s/{student}/check", headers={"Origin": base, "X-CSRF-Token": token}
            )
            goals = (await response.json())["goals"]
            seconds.append(time.perf_counter() - start)
        marks = "".join(goal["mark"] for goal in goals)
    finally:
        await client.close()
        server.terminate()
        server.wait(timeout=30)
    return {
        "check_my_work_s": {
            "median": round(statistics.median(seconds), 2),
            "all": [round(s, 2) for s in seconds],
        },
        "goals": marks,
        "load_average_1min": os.getloadavg()[0],
    }


async def serve_sshds(class_dir: Path) -> None:
    for student, port, password in seats(class_dir):
        await StandInSshd({student: password}).start(port)
    print("ready", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    load = sub.add_parser("terminals")
    load.add_argument("--students", type=int, default=30)
    one = sub.add_parser("check")
    one.add_argument("class_dir", type=Path)
    sub.add_parser("sshds").add_argument("class_dir", type=Path)  # the stand-ins' process
    args = parser.parse_args()
    if args.what == "sshds":
        asyncio.run(serve_sshds(args.class_dir))
        return
    if args.what == "terminals":
        result = asyncio.run(terminals(args.students))
    else:
        result = asyncio.run(check(args.class_dir))
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
