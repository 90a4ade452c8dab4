// The live stream: server-sent events read with fetch() and a stream reader (EventSource cannot send the
// Authorization header). Reconnects with a growing pause; a 401 or 403 stops it.

import { authHeaders } from "./api.js";

export function parseEvents(buffer, emit) {
  // Split complete events (a blank line ends one); return what is left of an incomplete one.
  const blocks = buffer.split(/\r\n\r\n|\n\n|\r\r/);
  const rest = blocks.pop();
  for (const block of blocks) {
    let kind = "message";
    const data = [];
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (line === "" || line.startsWith(":")) continue; // comments: the heartbeat
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") kind = value;
      else if (field === "data") data.push(value);
    }
    if (data.length) emit(kind, data.join("\n"));
  }
  return rest;
}

export class LiveStream {
  constructor(path, { onEvent, onState, onDenied }) {
    this.path = path;
    this.onEvent = onEvent;
    this.onState = onState;
    this.onDenied = onDenied;
    this.controller = null;
    this.stopped = true;
    this.pause = 1000;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
    this.onState("offline");
  }

  async connect() {
    if (this.stopped) return;
    this.controller = new AbortController();
    this.onState("connecting");
    try {
      const answer = await fetch(this.path, {
        headers: { Accept: "text/event-stream", ...authHeaders() },
        cache: "no-store",
        credentials: "omit",
        signal: this.controller.signal,
      });
      if (answer.status === 401 || answer.status === 403) {
        this.stopped = true;
        this.onState("offline");
        this.onDenied(answer.status);
        return;
      }
      if (!answer.ok || !answer.body) throw new Error(`HTTP ${answer.status}`);
      const reader = answer.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = parseEvents(buffer + value, (kind, data) => {
          if (kind === "hello") {
            this.pause = 1000;
            this.onState("live");
          }
          let parsed = null;
          try {
            parsed = JSON.parse(data);
          } catch {
            return;
          }
          this.onEvent(kind, parsed);
        });
      }
    } catch (error) {
      if (this.stopped) return;
    }
    if (this.stopped) return;
    this.onState("reconnecting");
    setTimeout(() => this.connect(), this.pause);
    this.pause = Math.min(this.pause * 2, 30000);
  }
}
