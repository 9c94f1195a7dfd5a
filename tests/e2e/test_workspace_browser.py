"""`labgen class serve` in a real browser (Debian's chromium through chromium-driver and
selenium) against a hosted class of two on the sandboxed engine.

alice logs in with her access sheet's password, sees her lab box's prompt, opens a shell
on the registry host by typing, does the tutorial's first step by typing and the next four
by clicking the handout's buttons, resizes the window, reloads and finds the same shell
with its history, and checks her work: ✓ exactly for the goals those steps make hold. The
teacher's page, open in another browser, shows her check without a reload and her
terminal read-only. bob's terminal URL answers alice 403. Neither page logs a console
message or asks anything of another origin. Screenshots go to LABGEN_SCREENSHOTS (or the
test's tmp folder).

Everything runs in the sandbox's network namespace, where the boxes publish their SSH
ports: this test's thread enters it, so the server and the browser it starts are there
too, and all traffic stays on that namespace's loopback.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import MIRROR, RUNTIME, SANDBOX_NETNS, labgen
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from helpers import OFFLINE, REPO_ROOT, tool_or_skip
from labgen.backends.box import Runtime
from labgen.classroom.hosted import run_hosted
from labgen.classroom.model import Class, open_class
from labgen.steps.scenario import load_scenario

pytestmark = pytest.mark.e2e

CLASS = "webe2e"
PORT = 8443
# Goals the tutorial's first five steps leave undone (the same as bob's in test_class_hosted).
UNDONE_AFTER_FIVE = {"client-has-image", "daemon-json-insecure", "engine-insecure"}
CLONE_NEWNET = 0x40000000


# A paste as the browser delivers one (xterm.js reads the event's clipboard data).
PASTE = """
const area = document.querySelector('#terminal .xterm-helper-textarea');
const data = new DataTransfer();
data.setData('text/plain', arguments[0]);
area.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true}));
"""


def _setns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


@pytest.fixture
def sandbox_netns() -> Iterator[None]:
    """This thread (and what it starts) in the sandbox's network namespace, then back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _setns(f"/run/netns/{SANDBOX_NETNS}")
        yield
    finally:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.setns(home, CLONE_NEWNET)
        os.close(home)


@pytest.fixture(scope="module")
def labbox_image(engine: dict[str, str]) -> dict[str, str]:
    subprocess.run(["bash", str(REPO_ROOT / "sandbox/images.sh"), "labbox"], check=True, env=engine)
    return engine


@pytest.fixture
def hosted(
    labbox_image: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Class]:
    """A hosted class of two, made by `labgen class create`, with both boxes up."""
    for key, value in labbox_image.items():
        monkeypatch.setenv(key, value)
    spec = tmp_path / "class-spec.yaml"
    raw = {
        "name": CLASS,
        "delivery": "hosted",
        "students": ["alice", "bob"],
        "lab": {"mirror": MIRROR},
        "hosted": {"server": "127.0.0.1", "ssh_ports": "2231-2240"},
    }
    spec.write_text(json.dumps(raw), encoding="utf-8")
    folder = tmp_path / "class"
    done = labgen(
        dict(os.environ), "class", "create", str(spec), "--out", str(folder), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    cls = open_class(folder)
    runtime = Runtime(RUNTIME, REPO_ROOT / "sandbox/labgen-runc")
    try:
        outcomes = run_hosted(cls, "up", 2, None, runtime, out=io.StringIO())
        assert [o.ok for o in outcomes] == [True, True], outcomes
        yield cls
    finally:
        run_hosted(cls, "down", 2, None, runtime, out=io.StringIO())


@pytest.fixture
def server(hosted: Class, sandbox_netns: None, tmp_path: Path) -> Iterator[str]:
    """`labgen class serve` as a teacher runs it (self-signed HTTPS), in the sandbox netns."""
    folder = hosted.folder
    log = (tmp_path / "serve.log").open("w")
    argv = [
        str(Path(sys.executable).with_name("labgen")),
        "class",
        "serve",
        str(folder),
        "--listen",
        f"127.0.0.1:{PORT}",
        "--regrade",
        "0",
    ]
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        yield f"https://127.0.0.1:{PORT}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def browser(tmp_path: Path, name: str) -> WebDriver:
    tool_or_skip("chromium")
    driver_path = tool_or_skip("chromedriver")
    options = webdriver.ChromeOptions()
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1400,900",
        f"--user-data-dir={tmp_path / f'profile-{name}'}",
        # Offline as the other browser tests, but the server's loopback address resolves.
        *(flag for flag in OFFLINE if not flag.startswith("--host-resolver-rules")),
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    options.accept_insecure_certs = True  # the server's self-signed certificate
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = webdriver.ChromeService(executable_path=driver_path)
    return webdriver.Chrome(options=options, service=service)


def wait(driver: WebDriver, what: Callable[[], Any], timeout: float = 60, message: str = "") -> Any:
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.2).until(lambda _: what())
    except TimeoutException:
        raise AssertionError(f"timed out: {message}\nscreen:\n{screen(driver)}") from None


def screen(driver: WebDriver) -> str:
    """The terminal's text as xterm.js shows it (its DOM renderer's rows)."""
    text: str = driver.execute_script(
        "const rows = document.querySelector('#terminal .xterm-rows');"
        "return rows ? [...rows.children].map(r => r.textContent).join('\\n') : '';"
    )
    return text


def type_keys(driver: WebDriver, text: str) -> None:
    driver.find_element(By.CSS_SELECTOR, "#terminal .xterm-helper-textarea").send_keys(text)


def run_and_wait(driver: WebDriver, marker: str, timeout: float = 120) -> None:
    """Type a marker command after whatever was sent; its output appears once all before ran."""
    type_keys(driver, f"echo {marker}-$((40+2))\n")
    wait(driver, lambda: f"{marker}-42" in screen(driver), timeout, f"{marker} never printed")


def shot(driver: WebDriver, folder: Path, name: str, least: int = 10_000) -> Path:
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > least, f"{name}: blank screenshot"
    return path


def network(driver: WebDriver) -> list[tuple[str, int]]:
    """Every request and WebSocket the page made since the last call, with its status
    (0 when none was seen)."""
    sent: dict[str, int] = {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message["params"]
        if message["method"] == "Network.requestWillBeSent":
            sent.setdefault(params["request"]["url"], 0)
        elif message["method"] == "Network.webSocketCreated":
            sent.setdefault(params["url"], 0)
        elif message["method"] == "Network.responseReceived":
            sent[params["response"]["url"]] = params["response"]["status"]
    return list(sent.items())


def console_errors(driver: WebDriver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser")]


def test_a_student_and_the_teacher_in_a_real_browser(
    server: str, hosted: Class, tmp_path: Path
) -> None:
    folder = hosted.folder
    shots = Path(os.environ.get("LABGEN_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    password = hosted.seats[0].password
    goals = [goal.id for goal in load_scenario(hosted.lab).goals]
    student = browser(tmp_path, "alice")
    teacher = browser(tmp_path, "teacher")
    try:
        # The teacher logs in with the secret from secrets/teacher and sees the class.
        teacher.get(server + "/")
        teacher.find_element(By.NAME, "secret").send_keys(
            (folder / "secrets/teacher").read_text().strip()
        )
        teacher.find_element(By.CSS_SELECTOR, "form.teacher button").click()
        wait(teacher, lambda: teacher.find_elements(By.ID, "row-alice"), 30, "teacher table")
        teacher.execute_script("window.stillThisPage = true;")  # gone if the page reloads
        alice_row = teacher.find_element(By.ID, "row-alice")
        assert "—" in alice_row.text  # never checked yet

        # alice logs in with her access sheet's id and password.
        student.get(server + "/")
        student.find_element(By.NAME, "id").send_keys("alice")
        student.find_element(By.NAME, "password").send_keys(password)
        student.find_element(By.CSS_SELECTOR, "form.card button").click()
        wait(student, lambda: student.current_url.endswith("/s/alice"), 30, "workspace")
        wait(student, lambda: "$" in screen(student), 60, "the box's prompt")
        assert "alice@" in screen(student)
        shot(student, shots, "1-student-prompt")

        # By typing: a shell on the registry host, then step 1.
        type_keys(student, "lab registry\n")
        wait(student, lambda: "root@" in screen(student), 60, "the registry host's shell")
        type_keys(student, "docker pull registry:2\n")
        run_and_wait(student, "step1")
        # By clicking: steps 2-5 (the SSH command of "Your lab" has no button: this is it).
        buttons = student.find_elements(By.CSS_SELECTOR, "#handout button.run")
        codes = student.find_elements(By.CSS_SELECTOR, "#handout pre > code")
        assert codes[0].text.startswith("ssh ") and len(buttons) == len(codes) - 1
        assert codes[1].text.strip() == "docker pull registry:2"
        for number in range(2, 6):
            buttons[number - 1].click()
            run_and_wait(student, f"step{number}")
        assert "localhost:5000/nginx" in screen(student)
        shot(student, shots, "2-student-steps")

        # Resizing the window resizes the shell's terminal.
        type_keys(student, "clear; stty size\n")
        wait(student, lambda: re.search(r"^\d+ \d+", screen(student), re.M), 30, "stty size")
        before = re.findall(r"^(\d+) (\d+)", screen(student), re.M)[-1]
        student.set_window_size(1100, 700)
        time.sleep(1)
        type_keys(student, "clear; stty size\n")
        wait(
            student,
            lambda: (
                (found := re.findall(r"^(\d+) (\d+)", screen(student), re.M))
                and found[-1] != before
            ),
            30,
            "a new size",
        )
        rows = student.execute_script(
            "return document.querySelector('#terminal .xterm-rows').children.length"
        )
        after = re.findall(r"^(\d+) (\d+)", screen(student), re.M)[-1]
        assert int(after[0]) == rows, (before, after, rows)

        # A reload finds the same shell: the same process id, and its history.
        type_keys(student, "echo pid-$$-x\n")
        wait(student, lambda: re.search(r"pid-\d+-x", screen(student)), 30, "the shell's pid")
        pid = re.findall(r"pid-(\d+)-x", screen(student))[-1]
        student.refresh()
        wait(
            student,
            lambda: "connected" in student.find_element(By.ID, "status").text,
            30,
            "re-attached",
        )
        type_keys(student, "clear; echo pid-$$-y; history | tail -30\n")
        wait(student, lambda: re.search(r"pid-\d+-y", screen(student)), 30, "pid again")
        assert re.findall(r"pid-(\d+)-y", screen(student))[-1] == pid
        assert "docker push localhost:5000/nginx:alpine" in screen(student)
        shot(student, shots, "3-student-after-reload")

        # Ctrl-C interrupts; UTF-8 goes both ways; a paste is typed; a selection copies.
        type_keys(student, "sleep 300\n")
        time.sleep(1)
        ActionChains(student).key_down(Keys.CONTROL).send_keys("c").key_up(Keys.CONTROL).perform()
        run_and_wait(student, "interrupted", timeout=20)
        # Chinese arrives as an input method commits it (insertText), not as key presses:
        # chromedriver's key events for characters off the keyboard layout are unreliable.
        type_keys(student, "echo ")
        student.execute_cdp_cmd("Input.insertText", {"text": "你好"})
        type_keys(student, "-$((6*7))\n")
        wait(student, lambda: "你好-42" in screen(student), 30, "UTF-8 round trip")
        student.execute_script(PASTE, "echo pasted-$((6*7))")
        type_keys(student, "\n")
        wait(student, lambda: "pasted-42" in screen(student), 30, "the paste")
        student.execute_cdp_cmd(
            "Browser.grantPermissions",
            {"origin": server, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
        )
        rows = student.find_element(By.CSS_SELECTOR, "#terminal .xterm-screen")
        ActionChains(student).move_to_element_with_offset(
            rows, -rows.size["width"] // 2 + 2, -rows.size["height"] // 2 + 4
        ).click_and_hold().move_by_offset(rows.size["width"] - 8, 0).release().perform()
        ActionChains(student).key_down(Keys.CONTROL).key_down(Keys.SHIFT).send_keys("c").key_up(
            Keys.SHIFT
        ).key_up(Keys.CONTROL).perform()
        copied = student.execute_async_script(
            "navigator.clipboard.readText().then(arguments[0], e => arguments[0]('ERR ' + e))"
        )
        first_line = screen(student).splitlines()[0].strip()
        assert copied.strip() and copied.strip() in first_line, (copied, first_line)

        # Check my work: ✓ exactly for the goals the five steps make hold.
        start = time.monotonic()
        student.find_element(By.ID, "check").click()
        wait(student, lambda: student.find_elements(By.CSS_SELECTOR, "#goals li"), 120, "goals")
        print(f"check my work, click to goals shown: {time.monotonic() - start:.1f} s")
        marks = {
            item.get_attribute("data-goal"): item.find_element(By.CLASS_NAME, "mark").text
            for item in student.find_elements(By.CSS_SELECTOR, "#goals li")
        }
        assert set(marks) == set(goals)
        assert {g for g, mark in marks.items() if mark == "✓"} == set(goals) - UNDONE_AFTER_FIVE
        assert {g for g, mark in marks.items() if mark == "✗"} == UNDONE_AFTER_FIVE
        hints = student.find_elements(By.CSS_SELECTOR, "#goals li.todo .hint")
        assert len(hints) == len(UNDONE_AFTER_FIVE) and all(h.text for h in hints)
        shot(student, shots, "4-student-checked")
        assert len(list((folder / "results" / "alice").glob("*.json"))) == 1

        # The same in Chinese: the zh handout, the last check's goals with zh hints, the shell.
        student.get(server + "/s/alice?lang=zh")
        wait(student, lambda: student.find_elements(By.CSS_SELECTOR, "#goals li"), 30, "zh goals")
        assert "检查结果" in student.find_element(By.ID, "goals").text
        assert "检查我的进度" in student.find_element(By.ID, "check").text
        wait(student, lambda: "你好-42" in screen(student), 30, "the same shell in zh")
        shot(student, shots, "4b-student-zh")

        # The teacher's page shows it, pushed, without a reload.
        wait(
            teacher,
            lambda: re.search(r"\d{4}-\d\d-\d\d", teacher.find_element(By.ID, "row-alice").text),
            30,
            "alice's check on the teacher's page",
        )
        assert teacher.execute_script("return window.stillThisPage === true")
        cells = teacher.find_elements(By.CSS_SELECTOR, "#row-alice td.cell")
        assert [c.text for c in cells].count("✓") == len(goals) - len(UNDONE_AFTER_FIVE)
        # ... and her terminal, read-only.
        teacher.find_element(By.CSS_SELECTOR, "#row-alice .watch-button").click()
        wait(
            teacher,
            lambda: (
                "history"
                in teacher.execute_script(
                    "return document.querySelector('#watch-terminal .xterm-rows').textContent"
                )
            ),
            30,
            "the read-only view",
        )
        shot(teacher, shots, "5-teacher-live")

        # Nothing asked of another origin, nothing on the console.
        for driver in (student, teacher):
            # chrome:// pages are the browser's own start page, served from inside it.
            urls = [url for url, _ in network(driver) if not url.startswith("chrome://")]
            assert urls and all(
                url.startswith((server + "/", f"wss://127.0.0.1:{PORT}/", "data:")) for url in urls
            ), urls
            assert console_errors(driver) == []

        # bob's terminal (and workspace) answer alice 403.
        student.get(server + "/s/bob/terminal")
        student.get(server + "/s/bob")
        assert "not your workspace" in student.find_element(By.TAG_NAME, "body").text
        shot(student, shots, "6-student-other-403", least=2_000)  # one line of text
        answered = dict(network(student))
        assert answered[f"{server}/s/bob/terminal"] == 403
        assert answered[f"{server}/s/bob"] == 403
        # The browser's only complaints are those two refusals.
        complaints = console_errors(student)
        assert complaints and all("403" in line for line in complaints), complaints
    finally:
        student.quit()
        teacher.quit()
