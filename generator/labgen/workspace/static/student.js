// The student's workspace: the handout beside a terminal into their own lab box.
import { Terminal } from "./vendor/xterm-xterm.mjs";
import { FitAddon } from "./vendor/addon-fit-addon-fit.mjs";
import { el, post, socketUrl, wireLogout } from "./common.js";

const who = document.getElementById("who");
const student = who.dataset.student;
const lang = who.dataset.lang;
const zh = lang === "zh";
const statusLine = document.getElementById("status");
const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000 });
const fit = new FitAddon();
term.loadAddon(fit);
term.open(document.getElementById("terminal"));
fit.fit();

let socket = null;
let retries = 0;
let stopped = false;

function show(text, kind) {
  statusLine.textContent = text;
  statusLine.className = `status ${kind || ""}`;
}

function send(message) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function connect() {
  const url = socketUrl(`/s/${encodeURIComponent(student)}/terminal`);
  url.searchParams.set("cols", term.cols);
  url.searchParams.set("rows", term.rows);
  socket = new WebSocket(url);
  socket.binaryType = "arraybuffer";
  socket.onmessage = (event) => {
    if (typeof event.data !== "string") {
      term.write(new Uint8Array(event.data));
      return;
    }
    const notice = JSON.parse(event.data);
    if (notice.kind === "ready") {
      retries = 0;
      term.reset(); // the server replays the shell's recent output next
      show(zh ? "已连接到你的实验环境" : "connected to your lab", "ok");
      term.focus();
    } else if (notice.kind === "error" || notice.kind === "ended") {
      stopped = true;
      show(notice.text, "error");
      term.write(`\r\n\x1b[31m${notice.text}\x1b[0m\r\n`);
    } else {
      show(notice.text, "");
    }
  };
  socket.onclose = () => {
    if (stopped) return;
    retries += 1;
    show(zh ? "连接中断，正在重新连接…" : "connection lost, reconnecting…", "error");
    setTimeout(connect, Math.min(5000, 300 * retries));
  };
}

// A big paste goes in pieces: the server takes at most 16 KiB of input per message.
term.onData((data) => {
  for (let start = 0; start < data.length; start += 4096) {
    send({ type: "input", data: data.slice(start, start + 4096) });
  }
});
term.onResize(({ cols, rows }) => send({ type: "resize", cols, rows }));
window.addEventListener("resize", () => fit.fit());

// Ctrl+C copies when text is selected (else it interrupts, as in any terminal);
// Ctrl+Shift+C always copies. Pasting (Ctrl+V, Ctrl+Shift+V, the menu) is the browser's.
term.attachCustomKeyEventHandler((event) => {
  const copy = event.type === "keydown" && event.ctrlKey && event.key.toLowerCase() === "c";
  if (copy && (event.shiftKey || term.hasSelection())) {
    if (term.hasSelection()) navigator.clipboard.writeText(term.getSelection());
    term.clearSelection();
    event.preventDefault();
    return false;
  }
  return true;
});

// Each command block of the handout gets a button that types it into the terminal; not
// the access sheet's `ssh` command: this terminal is that session already.
for (const code of document.querySelectorAll("#handout pre > code")) {
  if (code.textContent.startsWith("ssh ")) continue;
  const button = el("button", zh ? "▶ 运行" : "▶ Run", "run");
  button.type = "button";
  button.title = zh ? "在终端中输入这条命令" : "type this command into the terminal";
  button.addEventListener("click", () => {
    const lines = code.textContent.replace(/\n+$/, "").split("\n");
    send({ type: "input", data: `${lines.join("\r")}\r` });
    term.focus();
  });
  code.parentElement.before(button);
}

// "Check my work": grade mode on this student's lab; each goal ✓ ✗ ? with its hint.
const goalsBox = document.getElementById("goals");
const checkButton = document.getElementById("check");

function showGoals(result) {
  goalsBox.replaceChildren();
  if (result.state === "never") return;
  goalsBox.hidden = false;
  const heading = zh ? `检查结果（${result.checked_at} UTC）` : `Your lab, checked ${result.checked_at} UTC`;
  goalsBox.append(el("h2", heading));
  const list = el("ul");
  for (const goal of result.goals) {
    const item = el("li", null, `goal ${goal.state}`);
    item.dataset.goal = goal.id;
    item.append(el("span", goal.mark, "mark"), el("span", goal.title, "title"));
    if (goal.hint) item.append(el("div", goal.hint, "hint"));
    if (goal.reason) item.append(el("div", goal.reason, "hint"));
    list.append(item);
  }
  goalsBox.append(list);
}

checkButton.addEventListener("click", async () => {
  checkButton.disabled = true;
  const label = checkButton.textContent;
  checkButton.textContent = zh ? "检查中…" : "Checking…";
  try {
    const response = await post(`/s/${encodeURIComponent(student)}/check?lang=${lang}`);
    if (response.ok) {
      showGoals(await response.json());
      document.getElementById("handout").scrollTop = 0; // the goals are at its top
    }
    else show((await response.text()).trim(), "error");
  } finally {
    checkButton.disabled = false;
    checkButton.textContent = label;
  }
});

fetch(`/s/${encodeURIComponent(student)}/results?lang=${lang}`, { credentials: "same-origin" })
  .then((response) => (response.ok ? response.json() : null))
  .then((result) => result && showGoals(result));

wireLogout();
connect();
