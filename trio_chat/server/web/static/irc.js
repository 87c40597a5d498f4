// The IRC language for the page: parsing lines (with IRCv3 tags) and rendering mIRC formatting as DOM nodes.
// Message text only ever reaches the page through textContent: never as HTML.

const TAG_UNESCAPES = { ":": ";", s: " ", "\\": "\\", r: "\r", n: "\n" };

export function parseLine(line) {
  const msg = { tags: {}, source: null, command: "", params: [] };
  let rest = line;
  if (rest.startsWith("@")) {
    const end = rest.indexOf(" ");
    for (const part of rest.slice(1, end).split(";")) {
      const eq = part.indexOf("=");
      const key = eq < 0 ? part : part.slice(0, eq);
      const raw = eq < 0 ? "" : part.slice(eq + 1);
      msg.tags[key] = raw.replace(/\\(.?)/g, (_, c) => TAG_UNESCAPES[c] ?? c);
    }
    rest = rest.slice(end + 1).replace(/^ +/, "");
  }
  if (rest.startsWith(":")) {
    const end = rest.indexOf(" ");
    msg.source = rest.slice(1, end);
    rest = rest.slice(end + 1).replace(/^ +/, "");
  }
  while (rest.length) {
    if (rest.startsWith(":")) { msg.params.push(rest.slice(1)); break; }
    const end = rest.indexOf(" ");
    if (end < 0) { msg.params.push(rest); break; }
    msg.params.push(rest.slice(0, end));
    rest = rest.slice(end + 1).replace(/^ +/, "");
  }
  if (msg.params.length) msg.command = msg.params.shift().toUpperCase();
  return msg;
}

export function nickOf(source) {
  return source ? source.split("!")[0] : "";
}

export function buildLine(command, ...params) {
  const last = params.length - 1;
  return [command, ...params.map((p, i) => (i === last && (p === "" || p.includes(" ") || p.startsWith(":")) ? ":" + p : p))].join(" ");
}

// A stable colour per nick: a hue from a string hash, fixed saturation and lightness that read on white.
export function nickHue(nick) {
  let h = 0;
  for (const ch of nick.toLowerCase()) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return h % 360;
}

// mIRC formatting: \x02 bold, \x1D italic, \x1F underline, \x1E strike, \x11 monospace, \x16 reverse,
// \x03fg[,bg] colours, \x0F reset.  Returns a DocumentFragment of spans with classes and text nodes.
export function renderFormatted(text) {
  const frag = document.createDocumentFragment();
  const st = { b: false, i: false, u: false, s: false, m: false, fg: null, bg: null };
  let buf = "";
  const flush = () => {
    if (!buf) return;
    const classes = ["b", "i", "u", "s", "m"].filter((k) => st[k]);
    if (st.fg !== null) classes.push("c" + st.fg);
    if (st.bg !== null) classes.push("bg" + st.bg);
    if (classes.length) {
      const span = document.createElement("span");
      span.className = classes.join(" ");
      span.textContent = buf;
      frag.append(span);
    } else {
      frag.append(document.createTextNode(buf));
    }
    buf = "";
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const toggles = { "\x02": "b", "\x1d": "i", "\x1f": "u", "\x1e": "s", "\x11": "m" };
    if (c in toggles) { flush(); st[toggles[c]] = !st[toggles[c]]; continue; }
    if (c === "\x0f") { flush(); Object.assign(st, { b: false, i: false, u: false, s: false, m: false, fg: null, bg: null }); continue; }
    if (c === "\x16") { flush(); [st.fg, st.bg] = [st.bg ?? 0, st.fg ?? 1]; continue; }
    if (c === "\x03") {
      flush();
      const m = /^(\d{1,2})(?:,(\d{1,2}))?/.exec(text.slice(i + 1));
      if (!m) { st.fg = st.bg = null; continue; }
      st.fg = Number(m[1]) % 16;
      if (m[2] !== undefined) st.bg = Number(m[2]) % 16;
      i += m[0].length;
      continue;
    }
    if (c < " " && c !== "\t") continue; // other control characters are not shown
    buf += c;
  }
  flush();
  return frag;
}
