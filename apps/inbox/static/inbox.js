// Renders Slack incoming-webhook payloads the way Slack shows them: mrkdwn text, Block Kit blocks and
// legacy attachments. Message data is untrusted: it only ever becomes text nodes or attributes set through
// the DOM (never innerHTML), and links are limited to http(s)/mailto, so an alert cannot inject markup.
"use strict";

const POLL_MS = 1000;
const EMOJI = {
  rocket: "🚀", white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌", warning: "⚠️", fire: "🔥",
  repeat: "🔁", arrows_counterclockwise: "🔄", information_source: "ℹ️", rotating_light: "🚨", bell: "🔔",
  wave: "👋", tada: "🎉", bug: "🐛", hourglass: "⌛", hourglass_flowing_sand: "⏳", red_circle: "🔴",
  large_green_circle: "🟢", green_circle: "🟢", yellow_circle: "🟡", large_blue_circle: "🔵", eyes: "👀",
  sos: "🆘", boom: "💥", zap: "⚡", robot_face: "🤖", chart_with_upwards_trend: "📈", package: "📦",
  thumbsup: "👍", "+1": "👍", thumbsdown: "👎", "-1": "👎", ok: "🆗", no_entry: "⛔", skull: "💀",
  gear: "⚙️", memo: "📝", link: "🔗", clock1: "🕐", airplane: "✈️", snake: "🐍", heart: "❤️",
  smile: "😄", slightly_smiling_face: "🙂", thinking_face: "🤔", sparkles: "✨", star: "⭐",
};

// ---------------------------------------------------------------- DOM helpers
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function decodeEntities(s) {
  // Single pass, so "&amp;lt;" shows as "&lt;" (what the sender meant), never as "<".
  return String(s).replace(/&(lt|gt|amp);/g, (_, name) => ({ lt: "<", gt: ">", amp: "&" })[name]);
}

function emojify(s) {
  return String(s).replace(/:([a-z0-9_+-]+):/g, (m, name) => EMOJI[name] || m);
}

function appendText(parent, raw) {
  if (raw) parent.append(document.createTextNode(emojify(decodeEntities(raw))));
}

function safeHref(url) {
  return /^(https?:\/\/|mailto:)/i.test(url) ? url : null;
}

function link(url, label) {
  const href = safeHref(url);
  if (!href) return document.createTextNode(label || url);
  const a = el("a", null, label || url);
  a.href = href;
  a.target = "_blank";
  a.rel = "noopener noreferrer nofollow";
  return a;
}

// ---------------------------------------------------------------- mrkdwn
// Inline tokens, leftmost first: <control sequences>, `code`, *bold*, _italic_, ~strike~.
const INLINE = new RegExp(
  [
    "<([^<>\\n]*)>",
    "`([^`\\n]+)`",
    "(?<![\\w*])\\*(?!\\s)([^*\\n]+?)(?<!\\s)\\*(?![\\w*])",
    "(?<![\\w_])_(?!\\s)([^_\\n]+?)(?<!\\s)_(?![\\w_])",
    "(?<![\\w~])~(?!\\s)([^~\\n]+?)(?<!\\s)~(?![\\w~])",
  ].join("|"),
  "g",
);

function renderInline(text, parent) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    appendText(parent, text.slice(last, m.index));
    if (m[1] !== undefined) parent.append(renderControl(m[1]));
    else if (m[2] !== undefined) parent.append(el("code", null, decodeEntities(m[2])));
    else {
      const tag = m[3] !== undefined ? "b" : m[4] !== undefined ? "i" : "s";
      const node = el(tag);
      renderInline(m[3] ?? m[4] ?? m[5], node);
      parent.append(node);
    }
    last = m.index + m[0].length;
  }
  appendText(parent, text.slice(last));
}

// <https://x|label>, <!here>, <@U123>, <#C123|name>, <!subteam^S1|@team>, <!date^...|fallback>
function renderControl(inner) {
  const bar = inner.indexOf("|");
  const target = bar >= 0 ? inner.slice(0, bar) : inner;
  const label = bar >= 0 ? decodeEntities(inner.slice(bar + 1)) : "";
  if (target.startsWith("!")) {
    const command = target.slice(1);
    if (command.startsWith("date^")) return document.createTextNode(label || command);
    if (command.startsWith("subteam^")) return el("span", "mention", label || "@" + command.slice(8));
    return el("span", "mention", "@" + command);
  }
  if (target.startsWith("@")) return el("span", "mention", "@" + (label || target.slice(1)));
  if (target.startsWith("#")) return el("span", "mention", "#" + (label || target.slice(1)));
  const url = decodeEntities(target);
  if (safeHref(url)) return link(url, label);
  return document.createTextNode("<" + decodeEntities(inner) + ">");
}

function renderLines(text, parent) {
  // Lines starting with a raw ">" are quotes; untrusted ">" arrives escaped as "&gt;" and stays text.
  const lines = text.split("\n");
  let quote = null;
  lines.forEach((line, i) => {
    const newline = i < lines.length - 1 ? "\n" : "";
    if (line.startsWith(">")) {
      if (!quote) parent.append((quote = el("blockquote")));
      renderInline(line.slice(1).replace(/^ /, "") + newline, quote);
    } else {
      quote = null;
      renderInline(line + newline, parent);
    }
  });
}

function renderMrkdwn(text, parent) {
  const parts = String(text).split("```");
  parts.forEach((part, i) => {
    const isCode = i % 2 === 1 && i < parts.length - 1;
    if (isCode) parent.append(el("pre", "code-block", decodeEntities(part.replace(/^\n/, "").replace(/\n$/, ""))));
    else if (i % 2 === 1) renderLines("```" + part, parent); // an unclosed fence is plain text
    else {
      // Like Slack, the newlines right around a code block belong to the block, not to the text.
      let textPart = i > 0 ? part.replace(/^\n/, "") : part;
      if (i < parts.length - 2) textPart = textPart.replace(/\n$/, "");
      renderLines(textPart, parent);
    }
  });
}

function renderTextObject(obj, parent) {
  if (!obj || typeof obj.text !== "string") return;
  if (obj.type === "mrkdwn") renderMrkdwn(obj.text, parent);
  else parent.append(document.createTextNode(obj.emoji === false ? decodeEntities(obj.text) : emojify(decodeEntities(obj.text))));
}

// ---------------------------------------------------------------- Block Kit
function renderElement(element) {
  if (!element || typeof element !== "object") return document.createTextNode("");
  if (element.type === "image") return el("span", "placeholder", "🖼 " + (element.alt_text || "image"));
  if (element.type === "button") {
    const node = el("span", "button");
    renderTextObject(element.text, node);
    return node;
  }
  if (element.type === "mrkdwn" || element.type === "plain_text") {
    const node = el("span");
    renderTextObject(element, node);
    return node;
  }
  return el("span", "unsupported", "[" + String(element.type) + "]");
}

const RICH_MENTIONS = { user: ["@", "user_id"], usergroup: ["@", "usergroup_id"], channel: ["#", "channel_id"], broadcast: ["@", "range"] };
const RICH_STYLES = [["bold", "b"], ["italic", "i"], ["strike", "s"], ["code", "code"]];

function renderRich(element, parent) {
  if (!element || typeof element !== "object") return;
  const children = Array.isArray(element.elements) ? element.elements : [];
  switch (element.type) {
    case "rich_text_section":
      children.forEach((child) => renderRich(child, parent));
      break;
    case "rich_text_preformatted": {
      const pre = el("pre", "code-block");
      children.forEach((child) => renderRich(child, pre));
      parent.append(pre);
      break;
    }
    case "rich_text_quote": {
      const quote = el("blockquote");
      children.forEach((child) => renderRich(child, quote));
      parent.append(quote);
      break;
    }
    case "rich_text_list": {
      const list = el(element.style === "ordered" ? "ol" : "ul");
      children.forEach((child) => {
        const item = el("li");
        renderRich(child, item);
        list.append(item);
      });
      parent.append(list);
      break;
    }
    case "text":
    case "link": {
      let node = element.type === "link" ? link(String(element.url || ""), element.text || "") : document.createTextNode(String(element.text || ""));
      for (const [style, tag] of RICH_STYLES) {
        if (element.style && element.style[style]) {
          const wrap = el(tag);
          wrap.append(node);
          node = wrap;
        }
      }
      parent.append(node);
      break;
    }
    case "emoji":
      parent.append(document.createTextNode(element.unicode ? String.fromCodePoint(...String(element.unicode).split("-").map((h) => parseInt(h, 16) || 0x3f)) : EMOJI[element.name] || ":" + element.name + ":"));
      break;
    default:
      if (Object.hasOwn(RICH_MENTIONS, element.type)) {
        const [sigil, key] = RICH_MENTIONS[element.type];
        parent.append(el("span", "mention", sigil + element[key]));
      } else children.forEach((child) => renderRich(child, parent));
  }
}

function renderBlock(block) {
  const type = block && block.type;
  switch (type) {
    case "section": {
      const node = el("div", "block section");
      if (block.text) {
        const text = el("div", "section-text");
        renderTextObject(block.text, text);
        node.append(text);
      }
      if (Array.isArray(block.fields)) {
        const grid = el("div", "fields");
        for (const field of block.fields) {
          const cell = el("div", "field");
          renderTextObject(field, cell);
          grid.append(cell);
        }
        node.append(grid);
      }
      if (block.accessory) node.append(renderElement(block.accessory));
      return node;
    }
    case "header": {
      const node = el("div", "block header");
      renderTextObject(block.text, node);
      return node;
    }
    case "divider":
      return el("hr", "divider");
    case "context": {
      const node = el("div", "block context");
      (block.elements || []).forEach((element) => node.append(renderElement(element)));
      return node;
    }
    case "image":
      return el("div", "block placeholder", "🖼 " + (block.title && block.title.text ? block.title.text + " — " : "") + (block.alt_text || "image"));
    case "actions": {
      const node = el("div", "block actions");
      (block.elements || []).forEach((element) => node.append(renderElement(element)));
      return node;
    }
    case "rich_text": {
      const node = el("div", "block rich-text");
      (block.elements || []).forEach((element) => renderRich(element, node));
      return node;
    }
    case "markdown": {
      const node = el("div", "block markdown");
      renderMrkdwn(block.text, node);
      return node;
    }
    default:
      return el("div", "block unsupported", "[unsupported block: " + String(type) + "]");
  }
}

const COLORS = { good: "#2eb886", warning: "#daa038", danger: "#a30200" };

function renderAttachment(att) {
  const node = el("div", "attachment");
  const color = COLORS[att.color] || (/^#?[0-9a-f]{3,8}$/i.test(att.color || "") ? (att.color.startsWith("#") ? att.color : "#" + att.color) : null);
  if (color) node.style.borderLeftColor = color;
  const mrkdwnIn = Array.isArray(att.mrkdwn_in) ? att.mrkdwn_in : ["text", "pretext", "fields"];
  const textPart = (key, className) => {
    if (typeof att[key] !== "string" || !att[key]) return;
    const part = el("div", className);
    if (mrkdwnIn.includes(key)) renderMrkdwn(att[key], part);
    else appendText(part, att[key]);
    node.append(part);
  };
  textPart("pretext", "att-text");
  if (att.author_name) node.append(el("div", "muted", decodeEntities(att.author_name)));
  if (att.title) {
    const title = el("div", "att-title");
    title.append(att.title_link ? link(String(att.title_link), decodeEntities(att.title)) : document.createTextNode(decodeEntities(att.title)));
    node.append(title);
  }
  textPart("text", "att-text");
  if (Array.isArray(att.fields) && att.fields.length) {
    const grid = el("div", "fields");
    for (const field of att.fields) {
      const cell = el("div", "field");
      if (!field.short) cell.style.gridColumn = "1 / span 2";
      cell.append(el("b", null, decodeEntities(field.title || "")), document.createTextNode("\n"));
      renderMrkdwn(String(field.value ?? ""), cell);
      grid.append(cell);
    }
    node.append(grid);
  }
  if (Array.isArray(att.blocks)) att.blocks.forEach((block) => node.append(renderBlock(block)));
  if (att.footer) node.append(el("div", "block context", decodeEntities(att.footer)));
  return node;
}

// ---------------------------------------------------------------- messages
function renderMessage(message) {
  const payload = message.payload || {};
  const article = el("article", "msg");
  article.dataset.id = String(message.id);
  const avatar = el("div", "avatar", payload.icon_emoji ? emojify(payload.icon_emoji) : "🔔");
  const body = el("div", "body");
  const meta = el("div", "meta");
  const received = new Date(message.received_at);
  const time = el("time", "time", received.toLocaleTimeString());
  time.dateTime = message.received_at;
  time.title = received.toString();
  meta.append(el("span", "author", payload.username || "alerts"), el("span", "badge", "APP"), time, el("span", "hook", message.hook));
  if (message.kind === "teams") meta.append(el("span", "badge teams", "TEAMS"));
  if (message.forwarded) {
    const failed = message.forwarded.startsWith("failed");
    meta.append(el("span", "forwarded" + (failed ? " failed" : ""), "↪ Slack: " + message.forwarded));
  }
  const content = el("div", "content");
  if (message.kind === "teams") {
    content.append(renderTeamsMessage(payload)); // teams.js
  } else if (Array.isArray(payload.blocks) && payload.blocks.length) {
    payload.blocks.forEach((block) => content.append(renderBlock(block)));
  } else if (typeof payload.text === "string") {
    if (payload.mrkdwn === false) appendText(content, payload.text);
    else renderMrkdwn(payload.text, content);
  }
  const slackAttachments = message.kind !== "teams" && Array.isArray(payload.attachments) ? payload.attachments : [];
  slackAttachments.forEach((att) => content.append(renderAttachment(att)));
  const raw = el("details", "raw");
  raw.append(el("summary", null, "payload"), el("pre", null, JSON.stringify(payload, null, 2)));
  body.append(meta, content, raw);
  article.append(avatar, body);
  return article;
}

// ---------------------------------------------------------------- live updates
const state = { latest: 0, shown: 0 };

function setStatus(text, className) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = "status " + className;
}

function updateSummary(count) {
  document.getElementById("summary").textContent = count === 1 ? "1 message" : count + " messages";
  document.getElementById("empty").hidden = count > 0;
}

async function poll() {
  try {
    const response = await fetch("/api/messages?after=" + state.latest, { cache: "no-store" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    const data = await response.json();
    const list = document.getElementById("messages");
    if (data.latest_id < state.latest) {
      // The inbox restarted or was cleared elsewhere: start over.
      list.replaceChildren();
      state.latest = 0;
      return poll();
    }
    const fresh = data.messages; // newest first
    for (let i = fresh.length - 1; i >= 0; i--) {
      const node = renderMessage(fresh[i]);
      if (state.latest > 0) node.classList.add("fresh");
      list.prepend(node);
    }
    if (fresh.length) state.latest = fresh[0].id;
    while (list.children.length > data.count) list.lastElementChild.remove();
    updateSummary(data.count);
    setStatus("live", "live");
  } catch (err) {
    setStatus("disconnected, retrying…", "down");
  }
}

async function clearAll() {
  await fetch("/api/messages", { method: "DELETE" });
  document.getElementById("messages").replaceChildren();
  updateSummary(0);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("hook-example").textContent = location.origin + "/services/T000/B000/XXXX";
  document.getElementById("clear").addEventListener("click", clearAll);
  const loop = async () => {
    await poll();
    setTimeout(loop, POLL_MS);
  };
  loop();
});
