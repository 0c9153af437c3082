// The live page's "you" panel: one player, picked by handle, with their rank,
// percentile and neighbours on the ladder's board (from the server: ranks are
// never computed here), kept current by the ladder's stream, and their rating
// history as a chart with season boundaries and voided matches marked.

const SVG = "http://www.w3.org/2000/svg";
const HISTORY_PAGES = 10; // of 200 entries: the chart shows the latest 2,000 at most
const NEIGHBOURS = 5;

export class YouPanel {
  constructor({ apiUrl, ladder, root }) {
    Object.assign(this, { apiUrl, ladder, root });
    this.player = null; // { id, handle }
    this.refreshing = null;
    this.again = false;
  }

  async pick(handle) {
    const response = await fetch(
      `${this.apiUrl}/v1/players?handle=${encodeURIComponent(handle.trim().toLowerCase())}`,
    );
    if (!response.ok) {
      this.player = null;
      this._message(`No player called “${handle}”.`);
      return;
    }
    const player = await response.json();
    this.player = { id: player.id, handle: player.handle };
    await this.refresh({ chart: true });
  }

  // A stream event: anyone's change can move this player's rank; only their own
  // matches (or a recalculation) change their history.
  apply(type, data) {
    if (!this.player) return;
    const mine =
      (type === "leaderboard.changed" &&
        (data.players.length === 0 || data.players.some((p) => p.player_id === this.player.id))) ||
      (type === "match.voided" && [data.player_a, data.player_b].includes(this.player.id)) ||
      type === "recalculation.completed";
    this.refresh({ chart: mine });
  }

  // One refresh at a time; events that arrive meanwhile ask for one more after it.
  refresh({ chart = false } = {}) {
    this.chartDue = this.chartDue || chart;
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = this._load().finally(() => {
      this.refreshing = null;
      if (this.again) {
        this.again = false;
        this.refresh();
      }
    });
    return this.refreshing;
  }

  async _load() {
    if (!this.player) return;
    const chart = this.chartDue;
    this.chartDue = false;
    const base = `${this.apiUrl}/v1/ladders/${encodeURIComponent(this.ladder)}`;
    const id = this.player.id;
    const standingResponse = await fetch(`${base}/players/${id}`);
    if (!standingResponse.ok) {
      this._message(`${this.player.handle} has no match in this ladder yet.`);
      return;
    }
    const standing = await standingResponse.json();
    let neighbours = [];
    if (standing.on_board) {
      const page = await fetch(`${base}/leaderboard?around=${id}&limit=${NEIGHBOURS}`);
      if (page.ok) neighbours = (await page.json()).items;
    }
    this._renderStanding(standing, neighbours);
    if (chart) {
      const [history, matches, seasons] = await Promise.all([
        this._all(`${base}/players/${id}/ratings`),
        this._all(`${base}/players/${id}/matches`),
        this._all(`${base}/seasons`, 1),
      ]);
      this._renderChart(history.reverse(), matches, seasons);
    }
  }

  async _all(url, pages = HISTORY_PAGES) {
    const items = [];
    let cursor = null;
    for (let n = 0; n < pages; n += 1) {
      const response = await fetch(`${url}?limit=200${cursor ? `&cursor=${cursor}` : ""}`);
      if (!response.ok) break;
      const page = await response.json();
      items.push(...page.items);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    return items;
  }

  _message(text) {
    this.root.querySelector("#you-standing").textContent = text;
    this.root.querySelector("#you-neighbours").replaceChildren();
    this.root.querySelector("#you-chart").replaceChildren();
  }

  _renderStanding(s, neighbours) {
    const out = this.root.querySelector("#you-standing");
    const rank = s.rank === null ? "not ranked" : `#${s.rank}`;
    const better = s.percentile === null ? "" : ` · ahead of ${s.percentile.toFixed(1)}%`;
    const provisional = s.provisional ? " · provisional" : "";
    out.replaceChildren(
      Object.assign(document.createElement("strong"), { textContent: s.handle }),
      ` ${rank}${better} · ${s.rating.toFixed(1)} (peak ${s.peak_rating.toFixed(1)})` +
        ` · ${s.games} ${s.games === 1 ? "game" : "games"}${provisional}`,
    );
    out.dataset.rank = s.rank ?? "";
    const rows = neighbours.map((n) => {
      const tr = document.createElement("tr");
      if (n.player_id === s.player_id) tr.className = "me";
      for (const [text, cls] of [[n.rank, "num"], [n.handle, ""], [n.rating.toFixed(1), "num"]]) {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    });
    this.root.querySelector("#you-neighbours").replaceChildren(...rows);
  }

  // A hand-drawn SVG line: the page loads no library (it is static files served
  // as they are), and a line with two kinds of marks needs only a few shapes.
  _renderChart(history, matches, seasons) {
    const svg = this.root.querySelector("#you-chart");
    const width = 520;
    const height = 200;
    const pad = { left: 44, right: 10, top: 16, bottom: 22 };
    const points = history.map((h) => ({ t: Date.parse(h.at), r: h.after, reason: h.reason }));
    const voided = matches.filter((m) => m.voided).map((m) => ({ t: Date.parse(m.played_at) }));
    const times = [...points.map((p) => p.t), ...voided.map((v) => v.t)];
    svg.replaceChildren();
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    if (points.length === 0) return;
    const t0 = Math.min(...times);
    const t1 = Math.max(...times, t0 + 1);
    const ratings = points.map((p) => p.r);
    const r0 = Math.min(...ratings) - 5;
    const r1 = Math.max(...ratings) + 5;
    const x = (t) => pad.left + ((t - t0) / (t1 - t0)) * (width - pad.left - pad.right);
    const y = (r) => height - pad.bottom - ((r - r0) / (r1 - r0)) * (height - pad.top - pad.bottom);
    const add = (name, attrs, text) => {
      const el = document.createElementNS(SVG, name);
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
      if (text !== undefined) el.textContent = text;
      svg.append(el);
      return el;
    };
    for (const r of [r0 + 5, r1 - 5]) {
      add("text", { x: pad.left - 6, y: y(r) + 4, "text-anchor": "end", class: "axis" }, r.toFixed(0));
    }
    add("line", { x1: pad.left, y1: height - pad.bottom, x2: width - pad.right,
                  y2: height - pad.bottom, class: "axis-line" });
    const day = (t) => new Date(t).toISOString().slice(0, 10);
    add("text", { x: pad.left, y: height - 6, class: "axis" }, day(t0));
    if (t1 - t0 > 1) {
      add("text", { x: width - pad.right, y: height - 6, "text-anchor": "end", class: "axis" },
          day(t1));
    }
    for (const season of seasons) {
      const start = season.starts_at && Date.parse(season.starts_at);
      if (!start || start <= t0 || start >= t1) continue;
      add("line", { x1: x(start), y1: pad.top, x2: x(start), y2: height - pad.bottom,
                    class: "season", "data-season": season.number });
      add("text", { x: x(start) + 3, y: pad.top - 4, class: "season-label" }, `S${season.number}`);
    }
    add("polyline", {
      points: points.map((p) => `${x(p.t).toFixed(1)},${y(p.r).toFixed(1)}`).join(" "),
      class: "rating",
    });
    for (const p of points) {
      add("circle", { cx: x(p.t), cy: y(p.r), r: 2.5, class: `point ${p.reason}` });
    }
    // A voided match sits where the line is when it was played: its rating no
    // longer counts, which the line (recalculated without it) already shows.
    const ratingAt = (t) => [...points].reverse().find((p) => p.t <= t)?.r ?? points[0].r;
    for (const v of voided) {
      const cx = x(v.t);
      const cy = y(ratingAt(v.t));
      add("path", { d: `M${cx - 4},${cy - 4}L${cx + 4},${cy + 4}M${cx - 4},${cy + 4}L${cx + 4},${cy - 4}`,
                    class: "voided" });
    }
    svg.dataset.points = points.length;
    svg.dataset.voided = voided.length;
  }
}
