"""The workspace's web server: one aiohttp application, pages + JSON + WebSockets.

Students: /s/ID (handout + terminal), /s/ID/terminal (WebSocket), /s/ID/check (POST),
/s/ID/results. Teacher: /teacher (live report), /teacher/live and /teacher/watch/ID
(WebSockets). A student's session opens only their own /s/ID/...; anything else is 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import jinja2
from aiohttp import WSMsgType, web
from markdown_it import MarkdownIt
from markupsafe import Markup

from labgen.errors import LabgenError
from labgen.workspace.auth import TEACHER, RateLimiter, Session, Sessions, same_secret
from labgen.workspace.room import Room
from labgen.workspace.terminals import Login, Opener, Terminals, open_ssh, why_not

COOKIE = "labgen_session"
LANGUAGES = ("en", "zh")
# xterm.js writes its theme and cell sizes into <style> elements it creates, so styles
# may be inline; scripts, connections and everything else come from this origin only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self'; font-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
MAX_INPUT = 16384  # bytes one WebSocket message may type (a big paste comes in pieces)


@dataclass(frozen=True)
class Settings:
    tls: bool  # the browser talks HTTPS to us (directly, or to the proxy in front)
    behind_proxy: bool
    grace: float = 900.0  # seconds a detached shell is kept
    scrollback: int = 256 * 1024
    regrade: float = 0.0  # seconds between two regrades of the whole class (0: never)
    timeout: float = 60.0  # seconds each goal check may take
    jobs: int = 4  # labs graded at the same time
    session_hours: float = 12.0
    id_limit: int = 5  # failed logins per id ...
    address_limit: int = 20  # ... and per client address ...
    limit_window: float = 300.0  # ... in this many seconds


KEY: web.AppKey[Workspace] = web.AppKey("workspace")


class Workspace:
    """The server's state: the class, sessions, terminals, running checks, teacher views."""

    def __init__(self, room: Room, settings: Settings, opener: Opener = open_ssh) -> None:
        self.room = room
        self.settings = settings
        self.sessions = Sessions(settings.session_hours * 3600)
        self.by_id = RateLimiter(settings.id_limit, settings.limit_window)
        self.by_address = RateLimiter(settings.address_limit, settings.limit_window)
        self.terminals = Terminals(opener, settings.grace, settings.scrollback)
        self.checking: dict[str, asyncio.Lock] = {}
        self.graders = asyncio.Semaphore(settings.jobs)
        self.teachers: set[web.WebSocketResponse] = set()
        self.pages = jinja2.Environment(
            loader=jinja2.PackageLoader("labgen.workspace", "pages"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.markdown = MarkdownIt("commonmark", {"html": False}).enable("table")

    # ------------------------------------------------------------ grading
    async def check(self, student: str) -> None:
        """Grade one student's lab (one check per student at a time), then tell the teachers."""
        lock = self.checking.setdefault(student, asyncio.Lock())
        async with lock, self.graders:
            await self.push_report()  # the teacher sees "checking…" in that row
            await asyncio.to_thread(self.room.grade, student, self.settings.timeout)
        await self.push_report()

    async def report_data(self) -> dict[str, Any]:
        report = await asyncio.to_thread(self.room.report)
        return {
            "type": "report",
            "name": report.name,
            "lab": report.lab,
            "goals": [asdict(goal) for goal in report.goals],
            "rows": [
                {
                    "student": row.student,
                    "name": row.name,
                    "state": row.state,
                    "checked_at": row.checked_at,
                    "status": row.status,
                    "done": row.done,
                    "cells": [
                        {"mark": c.mark, "state": c.state, "note": c.note} for c in row.cells
                    ],
                    "terminal": self.terminals.watching(row.student) is not None,
                }
                for row in report.rows
            ],
            "checking": sorted(s for s, lock in self.checking.items() if lock.locked()),
        }

    async def push_report(self) -> None:
        if not self.teachers:
            return
        text = json.dumps(await self.report_data(), ensure_ascii=False)
        for socket in list(self.teachers):
            with contextlib.suppress(Exception):
                await socket.send_str(text)

    async def regrade_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.regrade)
            students = [s for s in self.room.desks if not self.busy(s)]
            await asyncio.gather(*(self.check(s) for s in students), return_exceptions=True)

    def busy(self, student: str) -> bool:
        lock = self.checking.get(student)
        return lock is not None and lock.locked()

    # ------------------------------------------------------------ requests
    def session(self, request: web.Request) -> Session | None:
        return self.sessions.get(request.cookies.get(COOKIE))

    def same_origin(self, request: web.Request) -> bool:
        """The request comes from a page of this server (browsers send Origin on POST and
        on WebSocket upgrades; a page elsewhere cannot forge it)."""
        origin = request.headers.get("Origin", "")
        scheme = "https" if self.settings.tls else "http"
        return origin.lower() == f"{scheme}://{request.host}".lower()

    def client_address(self, request: web.Request) -> str:
        if self.settings.behind_proxy:
            forwarded = request.headers.get("X-Forwarded-For", "")
            if forwarded:
                return forwarded.split(",")[-1].strip()  # what our proxy appended
        return request.remote or "?"

    def page(self, template: str, **values: Any) -> web.Response:
        html = self.pages.get_template(template).render(class_name=self.room.name, **values)
        return web.Response(text=html, content_type="text/html", charset="utf-8")

    def handout_html(self, student: str, language: str) -> Markup:
        text = self.room.handout(student, language)
        # The Markdown's first line is the generated-file comment, not for the student.
        body = text.split("\n", 1)[1] if text.startswith("<!--") else text
        return Markup(self.markdown.render(body))


# ---------------------------------------------------------------- middleware
@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:
        response = error
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    # same-origin, not no-referrer: with no-referrer a form POST carries "Origin: null".
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    if isinstance(response, web.HTTPException):
        raise response
    return response


def _ws(request: web.Request) -> Workspace:
    return request.app[KEY]


def _student_or_403(request: web.Request) -> tuple[Workspace, Session, str]:
    """The session of the student whose /s/ID/... this is; 401 without one, 403 for another."""
    space = _ws(request)
    student = request.match_info["student"]
    session = space.session(request)
    if session is None:
        raise web.HTTPUnauthorized(text="log in first\n")
    if session.role != "student" or session.who != student:
        raise web.HTTPForbidden(text="not your workspace\n")
    return space, session, student


def _teacher_or_403(request: web.Request) -> tuple[Workspace, Session]:
    space = _ws(request)
    session = space.session(request)
    if session is None:
        raise web.HTTPUnauthorized(text="log in first\n")
    if session.role != TEACHER:
        raise web.HTTPForbidden(text="for the teacher only\n")
    return space, session


def _state_change(request: web.Request, session: Session | None) -> None:
    """A POST must come from our own page and, once logged in, carry the session's token."""
    space = _ws(request)
    if not space.same_origin(request):
        raise web.HTTPForbidden(text="cross-origin request refused\n")
    if session is not None and not same_secret(
        request.headers.get("X-CSRF-Token", ""), session.csrf
    ):
        raise web.HTTPForbidden(text="missing or wrong CSRF token; reload the page\n")


# ---------------------------------------------------------------- login
async def login_page(request: web.Request) -> web.StreamResponse:
    space = _ws(request)
    session = space.session(request)
    if session is not None:
        raise web.HTTPSeeOther("/teacher" if session.role == TEACHER else f"/s/{session.who}")
    return space.page("login.html.j2", message="")


def _login_refused(space: Workspace, message: str, status: int) -> web.Response:
    response = space.page("login.html.j2", message=message)
    response.set_status(status)
    return response


def _start_session(space: Workspace, who: str, role: str, target: str) -> web.HTTPSeeOther:
    token, _ = space.sessions.start(who, role)
    response = web.HTTPSeeOther(target)
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="Strict", secure=space.settings.tls, path="/"
    )
    return response


async def login(request: web.Request) -> web.StreamResponse:
    space = _ws(request)
    _state_change(request, None)
    form = await request.post()
    student = str(form.get("id", "")).strip()
    password = str(form.get("password", ""))
    address = space.client_address(request)
    wait = max(space.by_id.blocked(student), space.by_address.blocked(address))
    if wait:
        response = _login_refused(space, f"Too many failed logins; try again in {wait:.0f} s.", 429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    desk = space.room.desks.get(student)
    # An unknown id is compared too, so the answer's timing does not tell which ids exist.
    good = same_secret(password, desk.password if desk else "x" * 16) and desk is not None
    if not good:
        space.by_id.failed(student)
        space.by_address.failed(address)
        return _login_refused(space, "Wrong id or password.", 401)
    raise _start_session(space, student, "student", f"/s/{student}")


async def teacher_login(request: web.Request) -> web.StreamResponse:
    space = _ws(request)
    _state_change(request, None)
    form = await request.post()
    address = space.client_address(request)
    wait = max(space.by_id.blocked(TEACHER), space.by_address.blocked(address))
    if wait:
        response = _login_refused(space, f"Too many failed logins; try again in {wait:.0f} s.", 429)
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    if not same_secret(str(form.get("secret", "")).strip(), space.room.teacher_secret()):
        space.by_id.failed(TEACHER)
        space.by_address.failed(address)
        return _login_refused(space, "Wrong teacher secret.", 401)
    raise _start_session(space, TEACHER, TEACHER, "/teacher")


async def logout(request: web.Request) -> web.StreamResponse:
    space = _ws(request)
    session = space.session(request)
    _state_change(request, session)
    space.sessions.end(request.cookies.get(COOKIE))
    response = web.json_response({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


# ---------------------------------------------------------------- student
async def student_page(request: web.Request) -> web.StreamResponse:
    space = _ws(request)
    if space.session(request) is None:
        raise web.HTTPSeeOther("/")
    space, session, student = _student_or_403(request)
    language = request.query.get("lang", "en")
    if language not in LANGUAGES:
        language = "en"
    return space.page(
        "student.html.j2",
        student=student,
        name=space.room.desks[student].name,
        language=language,
        csrf=session.csrf,
        handout=space.handout_html(student, language),
    )


class SocketWindow:
    """A terminal window that is a WebSocket: output as binary frames, notices as JSON."""

    def __init__(self, socket: web.WebSocketResponse) -> None:
        self.socket = socket

    async def output(self, data: bytes) -> None:
        await self.socket.send_bytes(data)

    async def notice(self, kind: str, text: str) -> None:
        await self.socket.send_str(json.dumps({"type": "notice", "kind": kind, "text": text}))


def _size(message: dict[str, Any]) -> tuple[int, int] | None:
    cols, rows = message.get("cols"), message.get("rows")
    if isinstance(cols, int) and isinstance(rows, int) and 2 <= cols <= 500 and 2 <= rows <= 300:
        return cols, rows
    return None


async def _open_socket(request: web.Request) -> web.WebSocketResponse:
    if not _ws(request).same_origin(request):
        raise web.HTTPForbidden(text="cross-origin WebSocket refused\n")
    socket = web.WebSocketResponse(heartbeat=20, max_msg_size=MAX_INPUT * 2)
    await socket.prepare(request)
    return socket


async def terminal(request: web.Request) -> web.StreamResponse:
    space, _, student = _student_or_403(request)
    socket = await _open_socket(request)
    window = SocketWindow(socket)
    desk = space.room.desks[student]
    login_ = Login(desk.address[0], desk.address[1], student, desk.password)
    asked = {k: int(v) for k, v in request.query.items() if k in ("cols", "rows") and v.isdigit()}
    size = _size(asked) or (80, 24)
    await window.notice("info", "connecting to your lab…")
    try:
        term = await space.terminals.get(student, login_, *size)
    except Exception as error:  # any failure to reach the box is that student's alone
        await window.notice("error", why_not(error, login_))
        await socket.close()
        return socket
    await window.notice("ready", "")
    await term.attach(window, typist=True)
    term.resize(window, *size)
    await space.push_report()
    try:
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(message.data)
            except ValueError:
                continue
            if not isinstance(data, dict):
                continue
            if data.get("type") == "input" and isinstance(data.get("data"), str):
                term.type(window, data["data"].encode("utf-8")[:MAX_INPUT])
            elif data.get("type") == "resize" and (wanted := _size(data)):
                term.resize(window, *wanted)
    finally:
        term.detach(window, space.settings.grace)
    return socket


async def check(request: web.Request) -> web.StreamResponse:
    space, session, student = _student_or_403(request)
    _state_change(request, session)
    language = request.query.get("lang", "en")
    if space.busy(student):
        raise web.HTTPConflict(text="a check of your lab is already running\n")
    try:
        await space.check(student)
    except LabgenError as error:  # e.g. the result could not be written: say so, one line
        raise web.HTTPInternalServerError(text=str(error).splitlines()[0] + "\n") from None
    return await _goals_response(space, student, language)


async def results(request: web.Request) -> web.StreamResponse:
    space, _, student = _student_or_403(request)
    return await _goals_response(space, student, request.query.get("lang", "en"))


async def _goals_response(space: Workspace, student: str, language: str) -> web.Response:
    report = await asyncio.to_thread(space.room.report)
    row = next(row for row in report.rows if row.student == student)
    goals = space.room.goals_of(report, student, language if language in LANGUAGES else "en")
    return web.json_response(
        {"checked_at": row.checked_at, "state": row.state, "goals": [asdict(g) for g in goals]},
        dumps=lambda value: json.dumps(value, ensure_ascii=False),
    )


# ---------------------------------------------------------------- teacher
async def teacher_page(request: web.Request) -> web.StreamResponse:
    space = _ws(request)
    if space.session(request) is None:
        raise web.HTTPSeeOther("/")
    space, session = _teacher_or_403(request)
    return space.page("teacher.html.j2", csrf=session.csrf)


async def teacher_live(request: web.Request) -> web.StreamResponse:
    space, _ = _teacher_or_403(request)
    socket = await _open_socket(request)
    space.teachers.add(socket)
    try:
        await socket.send_str(json.dumps(await space.report_data(), ensure_ascii=False))
        async for _message in socket:
            pass  # the page only listens
    finally:
        space.teachers.discard(socket)
    return socket


async def teacher_watch(request: web.Request) -> web.StreamResponse:
    space, _ = _teacher_or_403(request)
    student = request.match_info["student"]
    if student not in space.room.desks:
        raise web.HTTPNotFound(text="no such student\n")
    socket = await _open_socket(request)
    window = SocketWindow(socket)
    term = space.terminals.watching(student)
    if term is None:
        await window.notice("error", f"{student} has no terminal open")
        await socket.close()
        return socket
    await window.notice("ready", "")
    await term.attach(window, typist=False)
    try:
        async for _message in socket:
            pass  # read-only: whatever the teacher's page sends is ignored
    finally:
        term.detach(window, space.settings.grace)
    return socket


# ---------------------------------------------------------------- the app
async def favicon(request: web.Request) -> web.StreamResponse:
    """Browsers ask for /favicon.ico on pages with no <link rel=icon> (a 403's text)."""
    icon = resources.files("labgen.workspace") / "static" / "favicon.svg"
    return web.Response(body=icon.read_bytes(), content_type="image/svg+xml")


def make_app(space: Workspace) -> web.Application:
    app = web.Application(middlewares=[security_headers], client_max_size=64 * 1024)
    app[KEY] = space
    static = resources.files("labgen.workspace") / "static"
    app.add_routes(
        [
            web.get("/", login_page),
            web.post("/login", login),
            web.post("/teacher/login", teacher_login),
            web.post("/logout", logout),
            web.get("/s/{student}", student_page),
            web.get("/s/{student}/terminal", terminal),
            web.post("/s/{student}/check", check),
            web.get("/s/{student}/results", results),
            web.get("/teacher", teacher_page),
            web.get("/teacher/live", teacher_live),
            web.get("/teacher/watch/{student}", teacher_watch),
            web.static("/static", str(static), append_version=False),
            web.get("/favicon.ico", favicon),
        ]
    )

    async def background(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(space.regrade_forever()) if space.settings.regrade else None
        yield
        if task:
            task.cancel()
        space.terminals.close_all()
        for socket in list(space.teachers):
            await socket.close()

    app.cleanup_ctx.append(background)
    return app
