// The teacher's page: the class report, pushed by the server; a read-only view of a terminal.
import { Terminal } from "./vendor/xterm-xterm.mjs";
import { FitAddon } from "./vendor/addon-fit-addon-fit.mjs";
import { el, socketUrl, wireLogout } from "./common.js";

const live = document.getElementById("live");
const head = document.querySelector("#report thead");
const body = document.querySelector("#report tbody");
const summary = document.getElementById("summary");

function render(report) {
  const header = el("tr");
  header.append(el("th", "Student"), el("th", "Last check (UTC)"), el("th", "Status"));
  for (const goal of report.goals) {
    const cell = el("th", String(goal.number));
    cell.title = `${goal.id}: ${goal.title} (${goal.done} done, ${goal.percent}%)`;
    header.append(cell);
  }
  header.append(el("th", "Terminal"));
  head.replaceChildren(header);
  const rows = [];
  for (const row of report.rows) {
    const line = el("tr");
    line.id = `row-${row.student}`;
    line.dataset.student = row.student;
    const name = el("td");
    name.append(el("strong", row.student));
    if (row.name) name.append(el("div", row.name, "small"));
    const checking = report.checking.includes(row.student);
    line.append(name, el("td", row.checked_at || "—"), el("td", checking ? "checking…" : row.status));
    for (const cell of row.cells) {
      const td = el("td", cell.mark, `cell ${cell.state}`);
      td.title = cell.note;
      line.append(td);
    }
    const watch = el("button", row.terminal ? "Watch" : "no terminal", "watch-button");
    watch.type = "button";
    watch.disabled = !row.terminal;
    watch.addEventListener("click", () => openWatch(row.student));
    const last = el("td");
    last.append(watch);
    line.append(last);
    rows.push(line);
  }
  body.replaceChildren(...rows);
  const finished = report.rows.filter((row) => row.state === "graded" && row.status === "finished").length;
  summary.textContent = `${report.lab}: ${report.rows.length} students, ${finished} finished`;
  live.textContent = `live · updated ${new Date().toLocaleTimeString()}`;
  live.className = "live ok";
}

function listen() {
  const socket = new WebSocket(socketUrl("/teacher/live"));
  socket.onmessage = (event) => render(JSON.parse(event.data));
  socket.onclose = () => {
    live.textContent = "disconnected, reconnecting…";
    live.className = "live error";
    setTimeout(listen, 2000);
  };
}

// A read-only view of one student's terminal: what they see, nothing typed goes back.
const pane = document.getElementById("watch");
const watchStatus = document.getElementById("watch-status");
let viewer = null;
let viewSocket = null;

function openWatch(student) {
  if (viewSocket) viewSocket.close();
  if (viewer) viewer.dispose();
  pane.hidden = false;
  document.getElementById("watch-title").textContent = `${student}'s terminal (read-only)`;
  viewer = new Terminal({ disableStdin: true, fontSize: 13, scrollback: 5000 });
  const fit = new FitAddon();
  viewer.loadAddon(fit);
  viewer.open(document.getElementById("watch-terminal"));
  fit.fit();
  viewSocket = new WebSocket(socketUrl(`/teacher/watch/${encodeURIComponent(student)}`));
  viewSocket.binaryType = "arraybuffer";
  viewSocket.onmessage = (event) => {
    if (typeof event.data !== "string") {
      viewer.write(new Uint8Array(event.data));
      return;
    }
    const notice = JSON.parse(event.data);
    watchStatus.textContent = notice.kind === "ready" ? "watching" : notice.text;
  };
}

wireLogout();
listen();
