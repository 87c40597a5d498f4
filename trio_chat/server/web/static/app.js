// The trio-chat web client: one IRC connection over WebSocket (text.ircv3.net), buffers per channel and query.
import { buildLine, nickHue, nickOf, parseLine, renderFormatted } from "./irc.js";

const $ = (id) => document.getElementById(id);
const WANTED_CAPS = ["server-time", "batch", "draft/chathistory", "echo-message", "message-tags", "multi-prefix", "sasl"];
const HISTORY_PAGE = 50;

const state = {
  nick: "", account: "", password: "", channels: [], ws: null, caps: new Set(), registered: false,
  buffers: new Map(), current: null, batches: new Map(), backoff: 1000, reconnectTimer: null, closing: false,
  inputHistory: [], historyPos: -1, completion: null,
  // Work done once per frame however many lines arrive in it: the nick list and the scroll to the bottom.
  frame: 0, nicksDirty: false, atBottom: null, stickToBottom: false,
};

const collator = new Intl.Collator(undefined, { sensitivity: "base" });

const fold = (name) => name.toLowerCase();

function channelsFromHash() {
  const names = decodeURIComponent(location.hash.slice(1)).split(",").map((s) => s.trim()).filter(Boolean);
  return (names.length ? names : ["#lobby"]).map((n) => (/^[#&]/.test(n) ? n : "#" + n));
}

// ---- buffers -------------------------------------------------------------------------------------------------

function buffer(name, kind = name.startsWith("#") || name.startsWith("&") ? "channel" : "query") {
  const key = fold(name);
  let buf = state.buffers.get(key);
  if (!buf) {
    buf = { name, kind, lines: [], msgids: new Set(), users: new Map(), topic: "", unread: 0, mention: false,
      joined: false, oldest: null, exhausted: false, loading: false };
    state.buffers.set(key, buf);
    renderBuffers();
  }
  return buf;
}

function addLine(buf, line) {
  if (line.msgid) {
    if (buf.msgids.has(line.msgid)) return;
    buf.msgids.add(line.msgid);
  }
  // Lines are kept in time order: history arrives late but goes where it belongs.
  let at = buf.lines.length;
  while (at > 0 && buf.lines[at - 1].time > line.time) at--;
  buf.lines.splice(at, 0, line);
  if (line.history && (buf.oldest === null || line.time < buf.oldest)) buf.oldest = line.time;
  if (buf !== state.current && !line.history && !line.self && line.kind !== "event") {
    buf.unread++;
    if (line.mention || buf.kind === "query") buf.mention = true;
    renderBuffers();
  }
  if (buf === state.current) {
    if (state.atBottom === null) {
      // One layout read per frame, before this frame's first new line, rather than one per line.
      const scroller = $("scroller");
      state.atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
      scheduleFrame();
    }
    if (at === buf.lines.length - 1) $("messages").append(lineElement(line));
    else if (!line.history) renderMessages(); // older lines fetched in a batch are drawn once, at its end
    if (state.atBottom && !line.history) state.stickToBottom = true;
  }
}

function scheduleFrame() {
  if (!state.frame) state.frame = requestAnimationFrame(onFrame);
}

function onFrame() {
  state.frame = 0;
  if (state.nicksDirty) renderNicks();
  if (state.stickToBottom) $("scroller").scrollTop = $("scroller").scrollHeight;
  state.stickToBottom = false;
  state.atBottom = null;
}

function serverLine(text) {
  addLine(buffer("*server*", "server"), { time: Date.now(), kind: "event", nick: "*", text });
}

function switchTo(buf) {
  state.current = buf;
  buf.unread = 0;
  buf.mention = false;
  renderBuffers();
  renderMessages();
  renderTopic();
  renderNicks();
  $("scroller").scrollTop = $("scroller").scrollHeight;
  $("input").focus();
}

// ---- rendering ---------------------------------------------------------------------------------------------

function renderBuffers() {
  const list = $("buffers");
  list.replaceChildren();
  for (const buf of state.buffers.values()) {
    const li = document.createElement("li");
    li.dataset.name = buf.name;
    li.classList.toggle("active", buf === state.current);
    li.classList.toggle("unread", buf.unread > 0);
    li.classList.toggle("mention", buf.mention);
    const name = document.createElement("span");
    name.textContent = buf.kind === "server" ? "server" : buf.name;
    li.append(name);
    if (buf.unread) {
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = String(buf.unread);
      li.append(count);
    }
    li.addEventListener("click", () => switchTo(buf));
    list.append(li);
  }
}

function formatTime(ms) {
  const d = new Date(ms);
  return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
}

function lineElement(line) {
  const li = document.createElement("li");
  li.className = `line ${line.kind}` + (line.history ? " history" : "") + (line.mention ? " mention" : "") + (line.self ? " self" : "");
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = formatTime(line.time);
  time.title = new Date(line.time).toLocaleString();
  const nick = document.createElement("span");
  nick.className = "nick";
  nick.textContent = line.kind === "action" ? "* " + line.nick : line.nick;
  if (line.kind !== "event") nick.style.color = `hsl(${nickHue(line.nick)} 60% 38%)`;
  const text = document.createElement("span");
  text.className = "text";
  text.append(renderFormatted(line.text));
  li.append(time, nick, text);
  line.el = li;
  return li;
}

function renderMessages() {
  const buf = state.current;
  const list = $("messages");
  const frag = document.createDocumentFragment();
  let historyEnd = false;
  for (const line of buf.lines) {
    if (!line.history && !historyEnd && buf.lines[0]?.history) {
      historyEnd = true;
      const div = document.createElement("li");
      div.className = "divider";
      div.textContent = "─── history above ───";
      frag.append(div);
    }
    frag.append(lineElement(line));
  }
  list.replaceChildren(frag);
  showOlderStatus(buf);
}

function showOlderStatus(buf) {
  $("older").textContent = buf.kind === "channel" && buf.exhausted ? "beginning of history" : "";
}

// Older lines fetched by a scroll to the top go in front of what is shown rather than redrawing every line
// (10,000 of them take a second); false when the new lines are not all older than the shown ones.
function prependOlder(buf) {
  const first = buf.lines.findIndex((line) => line.el?.isConnected);
  if (first < 0 || buf.lines.slice(first).some((line) => !line.el?.isConnected)) return false;
  const list = $("messages");
  const frag = document.createDocumentFragment();
  for (const line of buf.lines.slice(0, first)) frag.append(lineElement(line));
  list.prepend(frag);
  const firstNew = buf.lines.find((line) => !line.history);
  if (buf.lines[0]?.history && firstNew && !list.querySelector(".divider")) {
    const div = document.createElement("li");
    div.className = "divider";
    div.textContent = "─── history above ───";
    list.insertBefore(div, firstNew.el);
  }
  showOlderStatus(buf);
  return true;
}

function renderTopic() {
  const buf = state.current;
  const header = $("topic");
  const name = document.createElement("b");
  name.textContent = buf.kind === "server" ? "server" : buf.name;
  header.replaceChildren(name, renderFormatted(buf.topic || ""));
}

function renderNicks() {
  const buf = state.current;
  const list = $("nicklist");
  const rank = (p) => (p.includes("@") ? 0 : p.includes("+") ? 1 : 2);
  state.nicksDirty = false;
  const users = [...buf.users.entries()].sort(([a, pa], [b, pb]) => rank(pa) - rank(pb) || collator.compare(a, b));
  const frag = document.createDocumentFragment();
  for (const [nick, prefix] of users) {
    const li = document.createElement("li");
    const p = document.createElement("span");
    p.className = "prefix";
    p.textContent = prefix.slice(0, 1);
    const n = document.createElement("span");
    n.textContent = nick;
    n.style.color = `hsl(${nickHue(nick)} 60% 38%)`;
    li.append(p, n);
    li.addEventListener("click", () => switchTo(buffer(nick, "query")));
    frag.append(li);
  }
  list.replaceChildren(frag);
}

function refresh(buf) {
  // The nick list is redrawn at most once a frame: a thousand JOINs or NAMES lines cost one redraw, not a thousand.
  if (buf === state.current) { renderTopic(); state.nicksDirty = true; scheduleFrame(); }
}

// ---- the connection ------------------------------------------------------------------------------------------

function send(command, ...params) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(buildLine(command, ...params));
}

function setStatus(text) {
  $("status").textContent = text;
}

function connect() {
  clearTimeout(state.reconnectTimer);
  const url = new URL(".", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.hash = "";
  setStatus("connecting…");
  const ws = new WebSocket(url.href, ["text.ircv3.net"]);
  state.ws = ws;
  state.caps = new Set();
  state.registered = false;
  ws.onopen = () => {
    send("CAP", "LS", "302");
    send("NICK", state.nick);
    send("USER", state.nick.replace(/[^A-Za-z0-9_-]/g, "") || "web", "0", "*", "trio-chat web client");
  };
  ws.onmessage = (event) => handle(parseLine(String(event.data)));
  ws.onclose = () => {
    if (state.ws !== ws) return;
    for (const buf of state.buffers.values()) buf.joined = false;
    if (state.closing) { setStatus("disconnected"); return; }
    const wait = state.backoff;
    state.backoff = Math.min(state.backoff * 2, 30000);
    setStatus(`reconnecting in ${Math.round(wait / 1000)} s`);
    state.reconnectTimer = setTimeout(connect, wait);
  };
}

function lineFrom(msg, extra) {
  const time = msg.tags.time ? Date.parse(msg.tags.time) : Date.now();
  const batch = msg.tags.batch && state.batches.get(msg.tags.batch);
  return { time, msgid: msg.tags.msgid, history: Boolean(batch && batch.type === "chathistory"), ...extra };
}

function handle(msg) {
  const nick = nickOf(msg.source);
  const me = fold(nick) === fold(state.nick);
  const p = msg.params;
  switch (msg.command) {
    case "PING": send("PONG", p[0] ?? ""); break;
    case "CAP": handleCap(p); break;
    case "AUTHENTICATE":
      if (p[0] === "+") send("AUTHENTICATE", btoa(unescape(encodeURIComponent(`${state.account}\0${state.account}\0${state.password}`))));
      break;
    case "903": send("CAP", "END"); break;
    case "904": case "905": case "902":
      showLoginError(p[p.length - 1] || "login failed");
      state.closing = true;
      state.ws.close();
      break;
    case "001":
      state.nick = p[0];
      state.registered = true;
      state.backoff = 1000;
      $("me").textContent = state.nick;
      setStatus("connected");
      showChat();
      for (const name of state.channels) send("JOIN", name);
      break;
    case "433":
      if (!state.registered) { state.nick = state.nick + "_"; send("NICK", state.nick); }
      else serverLine(p[p.length - 1]);
      break;
    case "BATCH": {
      const id = p[0].slice(1);
      if (p[0].startsWith("+")) state.batches.set(id, { type: p[1], target: p[2], count: 0 });
      else {
        const batch = state.batches.get(id);
        state.batches.delete(id);
        if (batch && batch.type === "chathistory" && batch.target) finishHistory(buffer(batch.target), batch.count);
      }
      break;
    }
    case "PRIVMSG": case "NOTICE": {
      const target = p[0];
      let text = p[1] ?? "";
      let kind = msg.command === "NOTICE" ? "notice" : "message";
      if (text.startsWith("\x01ACTION ")) { kind = "action"; text = text.slice(8).replace(/\x01$/, ""); }
      else if (text.startsWith("\x01")) break; // other CTCP
      const isChannel = /^[#&]/.test(target);
      if (!isChannel && !nick.includes(".") && nick !== "" && !state.registered) break;
      const where = isChannel ? buffer(target) : nick.includes(".") || !nick ? buffer("*server*", "server") : buffer(me ? target : nick, "query");
      const line = lineFrom(msg, { kind, nick: nick || "*", text, self: me });
      line.mention = !me && !line.history && new RegExp(`\\b${state.nick.replace(/[^\w]/g, "\\$&")}\\b`, "i").test(text);
      const batch = msg.tags.batch && state.batches.get(msg.tags.batch);
      if (batch) batch.count++;
      addLine(where, line);
      break;
    }
    case "JOIN": {
      const buf = buffer(p[0]);
      buf.users.set(nick, "");
      if (me) {
        buf.joined = true;
        if (!state.current || state.current.kind === "server" || fold(p[0]) === fold(state.channels[0] ?? "")) switchTo(buf);
      }
      addLine(buf, lineFrom(msg, { kind: "event", nick: "→", text: me ? `You joined ${p[0]}` : `${nick} joined` }));
      refresh(buf);
      break;
    }
    case "PART": case "KICK": {
      const buf = buffer(p[0]);
      const who = msg.command === "KICK" ? p[1] : nick;
      buf.users.delete(who);
      const text = msg.command === "KICK" ? `${who} was kicked by ${nick} (${p[2] ?? ""})` : `${nick} left` + (p[1] ? ` (${p[1]})` : "");
      addLine(buf, lineFrom(msg, { kind: "event", nick: "←", text }));
      if (fold(who) === fold(state.nick)) buf.joined = false;
      refresh(buf);
      break;
    }
    case "QUIT":
      for (const buf of state.buffers.values()) {
        if (buf.users.delete(nick)) {
          addLine(buf, lineFrom(msg, { kind: "event", nick: "←", text: `${nick} quit` + (p[0] ? ` (${p[0]})` : "") }));
          refresh(buf);
        }
      }
      break;
    case "NICK": {
      const newNick = p[0];
      if (me) { state.nick = newNick; $("me").textContent = newNick; }
      for (const buf of state.buffers.values()) {
        if (buf.users.has(nick)) {
          buf.users.set(newNick, buf.users.get(nick));
          buf.users.delete(nick);
          addLine(buf, lineFrom(msg, { kind: "event", nick: "•", text: `${nick} is now known as ${newNick}` }));
          refresh(buf);
        }
      }
      break;
    }
    case "TOPIC": {
      const buf = buffer(p[0]);
      buf.topic = p[1] ?? "";
      addLine(buf, lineFrom(msg, { kind: "event", nick: "•", text: `${nick} changed the topic to: ${buf.topic}` }));
      refresh(buf);
      break;
    }
    case "332": buffer(p[1]).topic = p[2] ?? ""; refresh(buffer(p[1])); break;
    case "353": {
      const buf = buffer(p[2]);
      for (const entry of (p[3] ?? "").split(" ").filter(Boolean)) {
        const m = /^([~&@%+]*)(.+)$/.exec(entry);
        buf.users.set(m[2].split("!")[0], m[1]);
      }
      refresh(buf);
      break;
    }
    case "MODE": {
      const buf = /^[#&]/.test(p[0]) ? buffer(p[0]) : null;
      if (buf) {
        let adding = true, arg = 2;
        for (const c of p[1] ?? "") {
          if (c === "+" || c === "-") { adding = c === "+"; continue; }
          if ("ov".includes(c)) {
            const who = p[arg++];
            const sym = c === "o" ? "@" : "+";
            const cur = (buf.users.get(who) ?? "").replace(sym, "");
            buf.users.set(who, adding ? sym + cur : cur);
          } else if ("bkeIl".includes(c) && (adding || c !== "l")) arg++;
        }
        addLine(buf, lineFrom(msg, { kind: "event", nick: "•", text: `${nick} sets mode ${p.slice(1).join(" ")}` }));
        refresh(buf);
      }
      break;
    }
    case "ERROR": serverLine(p[0] ?? "closed"); break;
    case "FAIL": serverLine(p.slice(1).join(" ")); break;
    default:
      if (/^\d{3}$/.test(msg.command) && !["005", "366", "333", "004", "003", "002", "375", "376", "372", "422"].includes(msg.command)) {
        const text = p.slice(1).join(" ");
        if (msg.command[0] === "4" && state.current) addLine(state.current, { time: Date.now(), kind: "event", nick: "!", text });
        else serverLine(text);
      }
  }
}

function handleCap(p) {
  const sub = p[1];
  if (sub === "LS") {
    const more = p[2] === "*";
    for (const cap of (more ? p[3] : p[2]).split(" ")) state.caps.add(cap.split("=")[0]);
    if (more) return;
    const wanted = WANTED_CAPS.filter((c) => state.caps.has(c) && (c !== "sasl" || state.account));
    if (wanted.length) send("CAP", "REQ", wanted.join(" "));
    else send("CAP", "END");
  } else if (sub === "ACK") {
    const acked = p[2].split(" ");
    if (acked.includes("sasl") && state.account) send("AUTHENTICATE", "PLAIN");
    else send("CAP", "END");
  } else if (sub === "NAK") {
    send("CAP", "END");
  }
}

// ---- scroll-back -----------------------------------------------------------------------------------------------

function loadOlder(buf) {
  if (buf.kind !== "channel" || buf.loading || buf.exhausted || !state.caps.has("draft/chathistory")) return;
  const before = buf.oldest ?? buf.lines[0]?.time;
  if (!before) return;
  buf.loading = true;
  $("older").textContent = "loading…";
  send("CHATHISTORY", "BEFORE", buf.name, "timestamp=" + new Date(before).toISOString(), String(HISTORY_PAGE));
}

function finishHistory(buf, count) {
  if (buf.loading) {
    buf.loading = false;
    if (count === 0) buf.exhausted = true;
  }
  if (buf === state.current) {
    const scroller = $("scroller");
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    if (!prependOlder(buf)) renderMessages();
    scroller.scrollTop = scroller.scrollHeight - fromBottom;
  }
}

// ---- input -----------------------------------------------------------------------------------------------------

function submit(text) {
  const buf = state.current;
  if (!text) return;
  state.inputHistory.push(text);
  state.historyPos = -1;
  if (text.startsWith("/") && !text.startsWith("//")) {
    const [command, ...args] = text.slice(1).split(" ");
    const rest = args.join(" ");
    switch (command.toLowerCase()) {
      case "join": for (const n of args[0]?.split(",") ?? []) { state.channels.push(n); send("JOIN", n); } return;
      case "part": send("PART", args[0] && /^[#&]/.test(args[0]) ? args[0] : buf.name); return;
      case "nick": send("NICK", args[0] ?? ""); return;
      case "me": send("PRIVMSG", buf.name, `\x01ACTION ${rest}\x01`); echo(buf, "action", rest); return;
      case "msg": case "query": {
        const target = args[0];
        const q = buffer(target);
        if (args.length > 1) { send("PRIVMSG", target, args.slice(1).join(" ")); echo(q, "message", args.slice(1).join(" ")); }
        switchTo(q);
        return;
      }
      case "topic": send("TOPIC", buf.name, rest); return;
      case "quit": state.closing = true; send("QUIT", rest || "Leaving"); return;
      case "quote": state.ws.send(rest); return;
      default: state.ws.send(text.slice(1)); return;
    }
  }
  if (text.startsWith("//")) text = text.slice(1);
  if (buf.kind === "server") { serverLine("Pick a channel to talk in, or /join #channel"); return; }
  send("PRIVMSG", buf.name, text);
  echo(buf, "message", text);
}

function echo(buf, kind, text) {
  // With echo-message the server's copy is the one shown (with its time and id).
  if (!state.caps.has("echo-message")) addLine(buf, { time: Date.now(), kind, nick: state.nick, text, self: true });
}

function complete(input) {
  const buf = state.current;
  let c = state.completion;
  if (!c || c.value !== input.value) {
    const caret = input.selectionStart;
    const before = input.value.slice(0, caret);
    const start = before.search(/\S*$/);
    const prefix = before.slice(start).toLowerCase();
    if (!prefix) return;
    const names = [...buf.users.keys()].filter((n) => n.toLowerCase().startsWith(prefix) && fold(n) !== fold(state.nick)).sort();
    if (!names.length) return;
    c = state.completion = { start, tail: input.value.slice(caret), names, index: -1, value: "" };
  }
  c.index = (c.index + 1) % c.names.length;
  const suffix = c.start === 0 ? ": " : " ";
  const head = input.value.slice(0, c.start) + c.names[c.index] + suffix;
  input.value = head + c.tail;
  input.setSelectionRange(head.length, head.length);
  c.value = input.value;
}

// ---- start -----------------------------------------------------------------------------------------------------

function showLoginError(text) {
  $("chat").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = text;
}

function showChat() {
  $("login").hidden = true;
  $("chat").hidden = false;
  $("input").focus();
}

function start(nick, account, password) {
  state.nick = nick;
  state.account = account;
  state.password = password;
  state.channels = channelsFromHash();
  state.closing = false;
  sessionStorage.setItem("trio-chat", JSON.stringify({ nick, account, password }));
  buffer("*server*", "server");
  connect();
}

function init() {
  $("login-channels").textContent = channelsFromHash().join(", ");
  $("login").addEventListener("submit", (event) => {
    event.preventDefault();
    $("login-error").textContent = "";
    start($("nick").value.trim(), $("account").value.trim(), $("password").value);
  });
  $("send").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("input");
    submit(input.value);
    input.value = "";
  });
  $("input").addEventListener("keydown", (event) => {
    const input = event.target;
    if (event.key === "Tab") { event.preventDefault(); complete(input); return; }
    state.completion = event.key === "Shift" ? state.completion : null;
    const h = state.inputHistory;
    if (event.key === "ArrowUp" && h.length) {
      event.preventDefault();
      state.historyPos = state.historyPos < 0 ? h.length - 1 : Math.max(0, state.historyPos - 1);
      input.value = h[state.historyPos];
    } else if (event.key === "ArrowDown" && state.historyPos >= 0) {
      event.preventDefault();
      state.historyPos = state.historyPos + 1 < h.length ? state.historyPos + 1 : -1;
      input.value = state.historyPos < 0 ? "" : h[state.historyPos];
    }
  });
  $("scroller").addEventListener("scroll", (event) => {
    if (event.target.scrollTop === 0 && state.current) loadOlder(state.current);
  });
  // A reload in the same tab picks up where it was (sessionStorage lives as long as the tab).
  const saved = JSON.parse(sessionStorage.getItem("trio-chat") || "null");
  if (saved && saved.nick) start(saved.nick, saved.account || "", saved.password || "");
}

init();
