// The live leaderboard page's state: one ladder's board from the API, kept
// current by that ladder's stream events (leaderboard.changed carries each
// player's new standing).

export class Leaderboard {
  constructor({ apiUrl, ladder = "default", table, matches, size = 50 }) {
    Object.assign(this, { apiUrl, ladder, table, matchesList: matches, size });
    this.players = new Map();
    this.minGames = 1; // the ladder's board policy, read with each snapshot
    this.seenMatches = [];
    this.recent = [];
  }

  async load() {
    const slug = encodeURIComponent(this.ladder);
    const [response, ladder] = await Promise.all([
      fetch(`${this.apiUrl}/v1/ladders/${slug}/leaderboard?limit=${this.size}`),
      fetch(`${this.apiUrl}/v1/ladders/${slug}`),
    ]);
    if (!response.ok) throw new Error(`leaderboard: HTTP ${response.status}`);
    if (ladder.ok) this.minGames = (await ladder.json()).board.min_games;
    const page = await response.json();
    this.players = new Map(page.items.map((e) => [e.player_id, e]));
    this.render();
  }

  apply(type, data) {
    if (type === "leaderboard.changed") {
      for (const p of data.players) this.players.set(p.player_id, p);
      this.render();
    } else if (type === "match.recorded") {
      this.seenMatches.push(data.id);
      this.recent = [data, ...this.recent].slice(0, 20);
      this.render();
    } else if (["recalculation.completed", "match.voided", "ladder.updated"].includes(type)) {
      this.load();
    }
  }

  ranked() {
    return [...this.players.values()]
      // As the server ranks: at least the board's minimum of games (inactivity is
      // the snapshot's; players an event brings have just played).
      .filter((p) => p.games >= this.minGames)
      // Handles tie-break byte by byte, as the server orders them (not by locale).
      .sort((a, b) => b.rating - a.rating || b.games - a.games ||
                      (a.handle < b.handle ? -1 : a.handle > b.handle ? 1 : 0))
      .slice(0, this.size);
  }

  render() {
    const rows = this.ranked().map((p, i) => {
      const tr = document.createElement("tr");
      tr.dataset.player = p.player_id;
      for (const [text, cls] of [[i + 1, "num"], [p.handle, ""],
                                 [p.rating.toFixed(1), "num"], [p.games, "num"]]) {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    });
    this.table.replaceChildren(...rows);
    // Names come from leaderboard events, which may follow a match's event.
    const name = (id) => this.players.get(id)?.handle ?? id.slice(0, 8);
    const verb = { 1: "beat", 0.5: "drew with", 0: "lost to" };
    this.matchesList.replaceChildren(...this.recent.map((match) => {
      const li = document.createElement("li");
      li.dataset.match = match.id;
      li.textContent = `${name(match.player_a)} ${verb[match.score_a]} ${name(match.player_b)}`;
      return li;
    }));
  }
}
