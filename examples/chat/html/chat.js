// The chat page: log in (POST /login gives a short-lived token for the
// name), open ws://…/chat?room=R&token=T through wsgate, show the room's
// history and live messages, and reconnect with backoff when the connection
// drops (a backend that died: wsgate sends the new connection to a live one).
/* global document, fetch, location, WebSocket */
"use strict";

const statusLine = document.getElementById("status");
const log = document.getElementById("log");
const seen = new Set(); // message ids: history after a reconnect repeats what is shown
let socket = null;
let attempt = 0;
let user = "";
let room = "";

function status(text) {
  statusLine.textContent = text;
  document.body.dataset.state = text.split(" ")[0];
}

function show(event, history) {
  if (event.id) {
    if (seen.has(event.id)) return;
    seen.add(event.id);
  }
  const line = document.createElement("div");
  if (event.type === "message") {
    line.className = "msg" + (history ? " history" : "");
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = event.user + ": ";
    const via = document.createElement("span");
    via.className = "via";
    via.textContent = "  (via backend " + event.backend + ")";
    line.append(who, document.createTextNode(event.text), via);
  } else {
    line.className = "notice";
    line.textContent = event.text || event.user + (event.type === "join" ? " joined" : " left");
  }
  log.append(line);
  log.scrollTop = log.scrollHeight;
}

async function login() {
  const response = await fetch("/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: user }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || "login refused (" + response.status + ")");
  return body.token;
}

async function connect() {
  status("connecting…");
  let token;
  try {
    token = await login();
  } catch (err) {
    return retry("login failed: " + err.message);
  }
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const url = scheme + location.host + "/chat?room=" + encodeURIComponent(room) + "&token=" + encodeURIComponent(token);
  const ws = new WebSocket(url);
  socket = ws;
  ws.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "welcome") {
      attempt = 0;
      status("connected to room " + event.room + " as " + event.user + " on backend " + event.backend);
      const before = document.body.dataset.backend;
      if (before && before !== event.backend) {
        show({ type: "notice", text: "reconnected: backend " + before + " → backend " + event.backend }, false);
      }
      document.body.dataset.backend = event.backend;
      for (const old of event.history) show(old, true);
      return;
    }
    show(event, false);
  };
  ws.onclose = (close) => {
    if (socket !== ws) return;
    socket = null;
    retry("disconnected (" + close.code + ")");
  };
}

/** Exponential backoff with jitter: 0.5 s, 1 s, 2 s … up to 8 s. */
function retry(why) {
  const delay = Math.min(8000, 500 * 2 ** attempt) * (0.75 + Math.random() * 0.5);
  attempt += 1;
  status(why + "; reconnecting in " + (delay / 1000).toFixed(1) + " s");
  setTimeout(connect, delay);
}

document.getElementById("join").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  user = form.querySelector('[name="name"]').value.trim();
  room = form.querySelector('[name="room"]').value.trim();
  form.hidden = true;
  document.getElementById("chat").hidden = false;
  show({ type: "notice", text: "room " + room + ", as " + user }, false);
  connect();
});

document.getElementById("say").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = event.target.querySelector('[name="text"]');
  if (socket && socket.readyState === WebSocket.OPEN && input.value.trim()) {
    socket.send(input.value);
    input.value = "";
  }
});
