/**
 * A terminal client for the Socket.IO example: connects through wsgate to
 * the "/chat" namespace, joins a room, prints every message with the
 * instance it came from, and sends each line typed on stdin.
 *
 *   node dist/examples/socketio/client.js [--url http://127.0.0.1:3000] [--room lobby]
 */

import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { io } from "socket.io-client";

const { values } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:3000" },
    room: { type: "string", default: "lobby" },
  },
});
const socket = io(`${values.url}/chat`);
socket.on("welcome", (welcome: { instance: string }) => {
  console.log(`connected to instance ${welcome.instance} over ${socket.io.engine.transport.name}`);
  socket.emit("join", values.room, () => console.log(`joined ${values.room}`));
});
socket.io.engine?.on("upgrade", () => console.log(`upgraded to ${socket.io.engine.transport.name}`));
socket.on("message", (message: { instance: string; text: string }) =>
  console.log(`[${message.instance}] ${message.text}`),
);
socket.on("connect_error", (error: Error) => console.error(`connect_error: ${error.message}`));
const lines = createInterface({ input: process.stdin });
lines.on("line", (text) => socket.emit("message", { room: values.room, text }));
lines.on("close", () => socket.close());
