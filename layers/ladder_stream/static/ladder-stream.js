// ladder-stream.js: a dependency-free client for ladder's event stream.
//
// - Follows /v1/stream with EventSource and resumes after any interruption
//   from the last event id it saw (?last_event_id=), so no event is missed.
// - After `maxFailures` consecutive failed connections it reports "offline"
//   (show a banner) and polls `poll()` every `pollInterval` ms until the
//   stream is back; then it reports "live" again.
// - A `reset` event means the history needed to resume is gone: reload your
//   snapshot (`onReset`), then carry on from the id the server sent.
//
// Usage:
//   const stream = new LadderStream({ url: "/v1/stream", topics: ["leaderboard"],
//     onEvent: (type, data, id) => ..., onReset: () => ..., onStatus: (s) => ...,
//     poll: () => fetch(...) });
//   stream.start();

export class LadderStream {
  constructor({
    url,
    topics,
    eventTypes = [],
    onEvent = () => {},
    onReset = () => {},
    onStatus = () => {},
    poll = null,
    maxFailures = 3,
    pollInterval = 5000,
    retryDelay = 1000,
  }) {
    Object.assign(this, { url, topics, eventTypes, onEvent, onReset, onStatus, poll,
                          maxFailures, pollInterval, retryDelay });
    this.lastEventId = null;
    this.failures = 0;
    this.status = "connecting";
    this.source = null;
    this.pollTimer = null;
    this.retryTimer = null;
  }

  start() {
    this._connect();
  }

  stop() {
    clearTimeout(this.retryTimer);
    this._stopPolling();
    if (this.source) this.source.close();
    this.source = null;
  }

  _streamUrl() {
    const url = new URL(this.url, window.location.href);
    url.searchParams.set("topics", this.topics.join(","));
    if (this.lastEventId !== null) url.searchParams.set("last_event_id", this.lastEventId);
    return url.toString();
  }

  _connect() {
    // The browser's own reconnect sends Last-Event-ID only while the source
    // lives; we reconnect ourselves so the resume point survives everything.
    const source = new EventSource(this._streamUrl());
    this.source = source;
    source.onopen = () => {
      this.failures = 0;
      this._stopPolling();
      this._setStatus("live");
    };
    source.onerror = () => {
      source.close();
      if (this.source !== source) return;
      this.failures += 1;
      if (this.failures >= this.maxFailures) this._startPolling();
      this.retryTimer = setTimeout(() => this._connect(), this.retryDelay);
    };
    source.addEventListener("reset", (e) => {
      this.lastEventId = e.lastEventId;
      this.onReset(JSON.parse(e.data));
    });
    for (const type of this.eventTypes) {
      source.addEventListener(type, (e) => {
        this.lastEventId = e.lastEventId;
        this.onEvent(type, JSON.parse(e.data), Number(e.lastEventId));
      });
    }
  }

  _setStatus(status) {
    if (status !== this.status) {
      this.status = status;
      this.onStatus(status);
    }
  }

  _startPolling() {
    this._setStatus("offline");
    if (this.pollTimer || !this.poll) return;
    const tick = () => Promise.resolve(this.poll()).catch(() => {});
    tick();
    this.pollTimer = setInterval(tick, this.pollInterval);
  }

  _stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }
}
