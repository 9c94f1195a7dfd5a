// Shared by the student's and the teacher's pages.

export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

// A state-changing request: same origin, with the session's CSRF token.
export function post(path) {
  return fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrfToken() },
  });
}

export function socketUrl(path) {
  const url = new URL(path, location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  return url;
}

export function wireLogout() {
  document.getElementById("logout").addEventListener("click", async () => {
    await post("/logout");
    location.assign("/");
  });
}

// Build an element with text only: nothing from a student or a roster becomes markup.
export function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}
