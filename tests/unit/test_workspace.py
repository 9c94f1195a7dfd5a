"""`labgen class serve`'s server, through real HTTP and WebSockets (aiohttp's test server on
127.0.0.1) with a stand-in for the lab boxes' sshd (tests/sshd_standin.py) and scripted
labs for grading: logins, sessions, every security rule, the terminal, check my work and
the teacher's live report."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from classkit import StudentLab, first
from click.testing import CliRunner

from labgen.classroom.create import plan_class
from labgen.classroom.model import open_class, teacher_secret
from labgen.classroom.spec import parse_class
from labgen.cli import cli
from labgen.render.write import write_lab
from labgen.workspace import auth
from labgen.workspace.room import Room
from labgen.workspace.server import CSP, Settings, Workspace, make_app
from labgen.workspace.terminals import Login, Shell, open_ssh
from labgen.workspace.tls import self_signed
from sshd_standin import StandInSshd

SEED = "ab" * 32
EVIL = "<img src=x onerror=alert(1)>"
STATIC = Path(__file__).resolve().parents[2] / "generator/labgen/workspace/static"


@pytest.fixture
def class_dir(tmp_path: Path) -> Path:
    """A hosted class of two, as `labgen class create` writes it; bob's roster name is markup."""
    roster = tmp_path / "roster.csv"
    roster.write_text(f'id,name\nalice,Alice 爱丽丝\nbob,"{EVIL}"\n', encoding="utf-8")
    raw = {
        "name": "ws",
        "delivery": "hosted",
        "students": "roster.csv",
        "hosted": {"server": "127.0.0.1", "ssh_ports": "2201-2210"},
    }
    classroom, _ = parse_class(raw, tmp_path)
    folder = tmp_path / "class"
    write_lab(plan_class(classroom, SEED), folder, force=False)
    return folder


def password(class_dir: Path, student: str) -> str:
    text = (class_dir / "students" / student / "access.txt").read_text(encoding="utf-8")
    return text.split("password: ")[1].strip()


class Site:
    """The server under test, a client, and the stand-in sshd behind it."""

    def __init__(self, client: TestClient[Any, Any], space: Workspace, sshd: StandInSshd) -> None:
        self.client = client
        self.space = space
        self.sshd = sshd

    @property
    def origin(self) -> str:
        return f"http://{self.client.server.host}:{self.client.server.port}"

    async def login(self, student: str, secret: str, **headers: str) -> aiohttp.ClientResponse:
        return await self.client.post(
            "/login",
            data={"id": student, "password": secret},
            headers={"Origin": self.origin, **headers},
            allow_redirects=False,
        )

    async def csrf(self, path: str) -> str:
        page = await (await self.client.get(path)).text()
        found = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert found, page[:300]
        return found.group(1)

    async def socket(self, path: str, origin: str | None = None) -> aiohttp.ClientWebSocketResponse:
        return await self.client.ws_connect(path, headers={"Origin": origin or self.origin})


async def next_text(
    socket: aiohttp.ClientWebSocketResponse, kind: str | None = None
) -> dict[str, Any]:
    while True:
        message = await asyncio.wait_for(socket.receive(), 10)
        if message.type == aiohttp.WSMsgType.TEXT:
            data: dict[str, Any] = json.loads(message.data)
            if kind is None or data.get("kind") == kind or data.get("type") == kind:
                return data
        elif message.type != aiohttp.WSMsgType.BINARY:
            raise AssertionError(f"socket closed: {message}")


async def read_until(socket: aiohttp.ClientWebSocketResponse, wanted: str) -> str:
    seen = ""
    while wanted not in seen:
        message = await asyncio.wait_for(socket.receive(), 10)
        if message.type == aiohttp.WSMsgType.BINARY:
            seen += message.data.decode("utf-8", "replace")
        elif message.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"closed before {wanted!r}; saw {seen!r}")
    return seen


async def type_into(socket: aiohttp.ClientWebSocketResponse, text: str) -> None:
    await socket.send_str(json.dumps({"type": "input", "data": text}))


@asynccontextmanager
async def site(
    class_dir: Path,
    settings: Settings | None = None,
    labs: dict[str, StudentLab] | None = None,
    unreachable: tuple[str, ...] = (),
) -> AsyncIterator[Site]:
    sshd = await StandInSshd({s: password(class_dir, s) for s in ("alice", "bob")}).start()
    labs = labs or {"alice": StudentLab(first(2)), "bob": StudentLab()}
    room = Room(open_class(class_dir), lambda seat: labs[seat.student])

    async def opener(login: Login, cols: int, rows: int) -> Shell:
        # The boxes' published ports stand for the stand-in's; a student in `unreachable`
        # gets a port nothing listens on (the server's own, closed again).
        port = sshd.port if login.user not in unreachable else closed_port()
        return await open_ssh(dataclasses.replace(login, port=port), cols, rows)

    space = Workspace(room, settings or Settings(tls=False, behind_proxy=False), opener)
    client = TestClient(TestServer(make_app(space), host="127.0.0.1"))
    await client.start_server()
    try:
        yield Site(client, space, sshd)
    finally:
        await client.close()
        sshd.close()


def closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


# ------------------------------------------------------------------ logging in
def test_a_student_logs_in_with_the_access_sheet_password(class_dir: Path) -> None:
    async def test() -> None:
        async with site(class_dir) as s:
            response = await s.login("alice", password(class_dir, "alice"))
            assert response.status == 303 and response.headers["Location"] == "/s/alice"
            page = await s.client.get("/s/alice")
            assert page.status == 200
            text = await page.text()
            assert "docker pull registry:2" in text and "Alice 爱丽丝" in text
            zh = await (await s.client.get("/s/alice?lang=zh")).text()
            assert '<html lang="zh">' in zh and "检查我的进度" in zh
            wrong = await s.login("bob", password(class_dir, "alice"))
            assert wrong.status == 401 and "Wrong id or password" in await wrong.text()

    run(test)


def test_passwords_and_the_teacher_secret_are_compared_in_constant_time(
    class_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)

    async def test() -> None:
        async with site(class_dir) as s:
            await s.login("alice", "guess")
            await s.client.post(
                "/teacher/login", data={"secret": "guess"}, headers={"Origin": s.origin}
            )

    run(test)
    assert (b"guess", password(class_dir, "alice").encode()) in compared
    assert (b"guess", teacher_secret(SEED).encode()) in compared


def test_logins_are_rate_limited_per_id_and_per_address(class_dir: Path) -> None:
    async def test() -> None:
        settings = Settings(tls=False, behind_proxy=True, id_limit=3, address_limit=5)
        async with site(class_dir, settings) as s:
            near = {"X-Forwarded-For": "10.0.0.1"}
            for _ in range(3):
                assert (await s.login("alice", "wrong", **near)).status == 401
            # alice's id is locked, even with her right password and from elsewhere ...
            locked = await s.login(
                "alice", password(class_dir, "alice"), **{"X-Forwarded-For": "10.0.0.9"}
            )
            assert locked.status == 429 and int(locked.headers["Retry-After"]) > 0
            # ... bob's is not, from the same address.
            assert (await s.login("bob", password(class_dir, "bob"), **near)).status == 303
            # Many ids from one address: the address is locked, the right password too.
            for guess in ("carol", "dave"):
                assert (await s.login(guess, "x", **near)).status == 401
            refused = await s.login("bob", password(class_dir, "bob"), **near)
            assert refused.status == 429
            assert "Too many failed logins" in await refused.text()

    run(test)


def test_the_session_cookie_is_httponly_samesite_strict_and_secure_over_tls(
    class_dir: Path,
) -> None:
    async def test(tls: bool) -> str:
        async with site(class_dir, Settings(tls=tls, behind_proxy=tls)) as s:
            origin = s.origin.replace("http:", "https:") if tls else s.origin
            response = await s.client.post(
                "/login",
                data={"id": "alice", "password": password(class_dir, "alice")},
                headers={"Origin": origin},
                allow_redirects=False,
            )
            assert response.status == 303
            return response.headers["Set-Cookie"]

    plain = asyncio.run(test(False))
    assert "HttpOnly" in plain and "SameSite=Strict" in plain and "Secure" not in plain
    secure = asyncio.run(test(True))
    assert "HttpOnly" in secure and "SameSite=Strict" in secure and "Secure" in secure


def test_the_teacher_secret_is_posted_never_in_a_url(class_dir: Path) -> None:
    secret = teacher_secret(SEED)

    async def test() -> None:
        async with site(class_dir) as s:
            by_url = await s.client.get(f"/teacher/login?secret={secret}")
            assert by_url.status == 405
            assert (await s.client.get("/teacher", allow_redirects=False)).status == 303
            response = await s.client.post(
                "/teacher/login",
                data={"secret": secret},
                headers={"Origin": s.origin},
                allow_redirects=False,
            )
            assert response.status == 303 and response.headers["Location"] == "/teacher"
            page = await s.client.get("/teacher")
            assert page.status == 200 and secret not in await page.text()
            assert secret not in str(page.url)

    run(test)
    assert (class_dir / "secrets/teacher").read_text().strip() == secret
    assert stat.S_IMODE((class_dir / "secrets/teacher").stat().st_mode) == 0o600


# ------------------------------------------------------------------ origin, CSRF, CSP
def test_websocket_upgrades_check_the_origin(class_dir: Path) -> None:
    async def test() -> None:
        async with site(class_dir) as s:
            await s.login("alice", password(class_dir, "alice"))
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await s.socket("/s/alice/terminal", origin="https://evil.example")
            assert refused.value.status == 403
            socket = await s.socket("/s/alice/terminal")
            assert (await next_text(socket, "ready"))["kind"] == "ready"
            await socket.close()

    run(test)


def test_state_changing_requests_need_our_origin_and_the_csrf_token(class_dir: Path) -> None:
    async def test() -> None:
        async with site(class_dir) as s:
            foreign = await s.client.post(
                "/login",
                data={"id": "alice", "password": password(class_dir, "alice")},
                headers={"Origin": "https://evil.example"},
                allow_redirects=False,
            )
            assert foreign.status == 403
            await s.login("alice", password(class_dir, "alice"))
            token = await s.csrf("/s/alice")
            no_token = await s.client.post("/s/alice/check", headers={"Origin": s.origin})
            assert no_token.status == 403
            other_site = await s.client.post(
                "/s/alice/check", headers={"Origin": "https://evil.example", "X-CSRF-Token": token}
            )
            assert other_site.status == 403
            good = await s.client.post(
                "/s/alice/check", headers={"Origin": s.origin, "X-CSRF-Token": token}
            )
            assert good.status == 200
            assert not (await s.client.post("/logout", headers={"Origin": s.origin})).ok
            assert (await s.client.get("/s/alice/results")).status == 200  # still logged in

    run(test)


def test_every_answer_carries_the_content_security_policy(class_dir: Path) -> None:
    assert (
        "script-src 'self';" in CSP
        and "unsafe-inline" not in CSP.split("script-src")[1].split(";")[0]
    )
    assert "default-src 'self'" in CSP and "connect-src 'self'" in CSP

    async def test() -> None:
        async with site(class_dir) as s:
            assert (await s.client.get("/favicon.ico")).status == 200  # no 404 on the console
            for path in ("/", "/static/student.js", "/s/alice", "/nowhere", "/teacher/live"):
                response = await s.client.get(path, allow_redirects=False)
                assert response.headers["Content-Security-Policy"] == CSP, path
                # no-referrer would make browsers send "Origin: null" with our own forms.
                assert response.headers["Referrer-Policy"] == "same-origin", path

    run(test)


def test_the_pages_have_no_inline_scripts_and_build_nothing_from_html_strings(
    class_dir: Path,
) -> None:
    async def test() -> None:
        async with site(class_dir) as s:
            await s.login("alice", password(class_dir, "alice"))
            for path in ("/", "/s/alice"):
                page = await (await s.client.get(path)).text()
                scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", page, re.S)
                assert all(body.strip() == "" for body in scripts), path
                assert not re.search(r"\son[a-z]+=", page), path

    run(test)
    for script in STATIC.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in text, f"{script.name} uses {sink}"


def test_what_a_roster_or_student_supplies_is_escaped(class_dir: Path) -> None:
    async def test() -> None:
        async with site(class_dir) as s:
            await s.login("bob", password(class_dir, "bob"))
            page = await (await s.client.get("/s/bob")).text()
            assert EVIL not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
            login = await s.login("<script>x</script>", "y")
            assert "<script>x</script>" not in await login.text()

    run(test)


# ------------------------------------------------------------------ a student's own things only
def test_a_student_opens_only_their_own_terminal_check_and_results(class_dir: Path) -> None:
    async def test() -> None:
        async with site(class_dir) as s:
            assert (await s.client.get("/s/bob/results")).status == 401
            await s.login("alice", password(class_dir, "alice"))
            token = await s.csrf("/s/alice")
            assert (await s.client.get("/s/bob")).status == 403
            assert (await s.client.get("/s/bob/results")).status == 403
            check = await s.client.post(
                "/s/bob/check", headers={"Origin": s.origin, "X-CSRF-Token": token}
            )
            assert check.status == 403
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await s.socket("/s/bob/terminal")
            assert refused.value.status == 403
            assert (await s.client.get("/teacher")).status == 403
            with pytest.raises(aiohttp.WSServerHandshakeError) as watch:
                await s.socket("/teacher/watch/bob")
            assert watch.value.status == 403
            assert s.sshd.open == 0  # no shell was opened for bob

    run(test)


# ------------------------------------------------------------------ the terminal
def test_the_terminal_is_the_students_shell_and_survives_a_reload(class_dir: Path) -> None:
    async def test() -> None:
        settings = Settings(tls=False, behind_proxy=False, grace=0.5)
        async with site(class_dir, settings) as s:
            await s.login("alice", password(class_dir, "alice"))
            first_window = await s.socket("/s/alice/terminal?cols=100&rows=30")
            await next_text(first_window, "ready")
            assert "alice shell-1$" in await read_until(first_window, "shell-1$")
            await type_into(first_window, "echo 你好 marker\r")
            await read_until(first_window, "你好 marker")
            await type_into(first_window, "\x03")
            await read_until(first_window, "^C")
            await first_window.send_str(json.dumps({"type": "resize", "cols": 120, "rows": 40}))
            await read_until(first_window, "[size 120x40]")
            await first_window.close()  # the page reloads
            second = await s.socket("/s/alice/terminal")
            await next_text(second, "ready")
            replay = await read_until(second, "你好 marker")
            assert "shell-1$" in replay and "shell-2" not in replay
            assert s.sshd.open == 1
            await second.close()
            # Past the grace period the shell ends; the next window gets a new one.
            await asyncio.sleep(1.0)
            assert s.sshd.open == 0 and s.space.terminals.watching("alice") is None
            third = await s.socket("/s/alice/terminal")
            await next_text(third, "ready")
            assert "shell-2$" in await read_until(third, "shell-2$")
            await third.close()

    run(test)


def test_a_lab_that_does_not_answer_is_a_message_in_that_pane_only(class_dir: Path) -> None:
    async def test() -> None:
        async with site(class_dir, unreachable=("bob",)) as s:
            await s.login("bob", password(class_dir, "bob"))
            bob = await s.socket("/s/bob/terminal")
            notice = await next_text(bob, "error")
            assert (
                "your lab at 127.0.0.1:" in notice["text"] and "does not answer" in notice["text"]
            )
            assert "tell your teacher" in notice["text"]
            assert (await bob.receive()).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            # alice, on another browser, is not affected.
            s.client.session.cookie_jar.clear()
            await s.login("alice", password(class_dir, "alice"))
            alice = await s.socket("/s/alice/terminal")
            await next_text(alice, "ready")
            await type_into(alice, "still fine\r")
            await read_until(alice, "still fine")
            await alice.close()

    run(test)


# ------------------------------------------------------------------ check my work, the teacher
def test_check_my_work_grades_only_that_lab_writes_a_result_and_updates_the_teacher(
    class_dir: Path,
) -> None:
    labs = {"alice": StudentLab(first(2)), "bob": StudentLab()}

    async def test() -> None:
        async with site(class_dir, labs=labs) as s:
            teacher = TestClient(TestServer(make_app(s.space), host="127.0.0.1"))
            await teacher.start_server()
            teacher_origin = f"http://{teacher.server.host}:{teacher.server.port}"
            await teacher.post(
                "/teacher/login",
                data={"secret": teacher_secret(SEED)},
                headers={"Origin": teacher_origin},
            )
            live = await teacher.ws_connect("/teacher/live", headers={"Origin": teacher_origin})
            before = await next_text(live, "report")
            assert [row["state"] for row in before["rows"]] == ["never", "never"]
            names = [row["name"] for row in before["rows"]]
            assert names == ["Alice 爱丽丝", EVIL]  # JSON, shown with textContent

            await s.login("alice", password(class_dir, "alice"))
            token = await s.csrf("/s/alice")
            response = await s.client.post(
                "/s/alice/check?lang=zh", headers={"Origin": s.origin, "X-CSRF-Token": token}
            )
            result = await response.json()
            marks = [goal["mark"] for goal in result["goals"]]
            assert marks[:2] == ["✓", "✓"] and set(marks[2:]) == {"✗"}
            goals = s.space.room.scenario.goals
            assert result["goals"][2]["hint"] == goals[2].hint.zh  # in the page's language
            assert not result["goals"][0]["hint"]  # a goal that holds needs no hint
            # The answer (the goal's check command) is never in what the student gets.
            for goal, line in zip(goals, result["goals"], strict=True):
                assert set(line) == {"id", "title", "mark", "state", "hint", "reason"}
                assert goal.run not in json.dumps(line, ensure_ascii=False)
            assert labs["bob"].calls == [] and labs["alice"].calls
            assert len(list((class_dir / "results" / "alice").glob("*.json"))) == 1

            started = await next_text(live, "report")  # pushed when the check began
            assert started["checking"] == ["alice"] and started["rows"][0]["state"] == "never"
            pushed = await next_text(live, "report")  # and when it finished
            assert pushed["checking"] == []
            alice_row = pushed["rows"][0]
            assert alice_row["state"] == "graded" and alice_row["done"] == 2
            assert pushed["rows"][1]["state"] == "never"
            await live.close()
            await teacher.close()

    run(test)


def test_the_teacher_watches_a_terminal_read_only(class_dir: Path) -> None:
    async def test() -> None:
        async with site(class_dir) as s:
            await s.login("alice", password(class_dir, "alice"))
            student = await s.socket("/s/alice/terminal")
            await next_text(student, "ready")
            await type_into(student, "before\r")
            await read_until(student, "before")

            teacher = TestClient(TestServer(make_app(s.space), host="127.0.0.1"))
            await teacher.start_server()
            origin = f"http://{teacher.server.host}:{teacher.server.port}"
            await teacher.post(
                "/teacher/login", data={"secret": teacher_secret(SEED)}, headers={"Origin": origin}
            )
            view = await teacher.ws_connect("/teacher/watch/alice", headers={"Origin": origin})
            await next_text(view, "ready")
            assert "before" in await read_until(view, "before")
            await type_into(view, "from-teacher\r")  # ignored
            await type_into(student, "after\r")
            seen = await read_until(view, "after")
            assert "from-teacher" not in seen
            assert "from-teacher" not in await read_until(student, "after")
            nobody = await teacher.ws_connect("/teacher/watch/bob", headers={"Origin": origin})
            assert "has no terminal open" in (await next_text(nobody, "error"))["text"]
            await view.close()
            await teacher.close()
            await student.close()

    run(test)


# ------------------------------------------------------------------ the command's rules
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--insecure-http", "--listen", "0.0.0.0:8080"], "is not a loopback address"),
        (["--cert", "{cert}"], "--cert/--key: give both"),
        (["--listen", "somewhere:80"], "--listen somewhere:80: use ADDR:PORT"),
        (["--behind-proxy", "--insecure-http", "--listen", "127.0.0.1:8080"], "choose one"),
    ],
)
def test_serve_refuses_plain_http_off_loopback_and_bad_options(
    class_dir: Path, args: list[str], message: str
) -> None:
    cert = class_dir / "cert.pem"
    cert.write_text("x")
    argv = ["class", "serve", str(class_dir), *(a.replace("{cert}", str(cert)) for a in args)]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output


def test_the_self_signed_certificate_names_the_server_and_keeps_its_key_private(
    class_dir: Path,
) -> None:
    from cryptography import x509

    cert, key = self_signed(class_dir, ["lab.example.org", "192.0.2.7", "localhost"])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    names = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "lab.example.org" in str(names.value) and "192.0.2.7" in str(names.value)
    before = cert.read_bytes()
    assert self_signed(class_dir, ["lab.example.org"])[0].read_bytes() == before  # kept
    self_signed(class_dir, ["other.example.org"])
    assert cert.read_bytes() != before  # a name it lacked: made anew


def test_the_periodic_regrade_grades_every_lab_and_pushes_the_report(class_dir: Path) -> None:
    labs = {"alice": StudentLab(first(2)), "bob": StudentLab(first(1))}

    async def test() -> None:
        settings = Settings(tls=False, behind_proxy=False, regrade=0.3)
        async with site(class_dir, settings, labs=labs) as s:
            await s.client.post(
                "/teacher/login",
                data={"secret": teacher_secret(SEED)},
                headers={"Origin": s.origin},
            )
            live = await s.socket("/teacher/live")
            done: dict[str, int] = {}
            while set(done) != {"alice", "bob"}:
                report = await next_text(live, "report")
                done = {r["student"]: r["done"] for r in report["rows"] if r["state"] == "graded"}
            assert done == {"alice": 2, "bob": 1}
            await live.close()

    run(test)
    assert labs["alice"].calls and labs["bob"].calls
