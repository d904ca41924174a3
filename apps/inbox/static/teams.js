// Renders Teams Workflows posts (Adaptive Cards up to 1.4) roughly the way Teams shows them. Like inbox.js,
// card data only ever becomes text nodes or DOM-set attributes (never innerHTML). TextBlock and Fact text is
// markdown in Teams; here it is shown as written, except that an <at>…</at> naming one of the card's
// msteams.entities becomes a mention, as in Teams. TextRuns are plain text (never a mention), and links come
// only from Action.OpenUrl with an http(s) URL. Uses el() and link() from inbox.js.
"use strict";

const AC_MENTION = /<at>([^<]*)<\/at>/g;
const AC_STYLE_KEYS = [
  ["weight", (v) => (String(v).toLowerCase() === "bolder" ? "ac-bold" : "")],
  ["size", (v) => "ac-size-" + String(v).toLowerCase()],
  ["color", (v) => "ac-color-" + String(v).toLowerCase()],
  ["isSubtle", (v) => (v ? "ac-subtle" : "")],
  ["italic", (v) => (v ? "ac-italic" : "")],
  ["strikethrough", (v) => (v ? "ac-strike" : "")],
  ["fontType", (v) => (String(v).toLowerCase() === "monospace" ? "ac-mono" : "")],
];

function acClasses(obj, base) {
  const names = [base];
  for (const [key, cls] of AC_STYLE_KEYS) if (obj && obj[key] !== undefined) names.push(cls(obj[key]));
  return names.filter((n) => /^[a-z0-9-]+$/.test(n)).join(" ");
}

function acMarkdownText(text, parent, entities) {
  const s = String(text ?? "");
  let last = 0;
  for (const m of s.matchAll(AC_MENTION)) {
    if (!entities.has(m[0])) continue; // no entity, no mention: Teams shows the text
    parent.append(document.createTextNode(s.slice(last, m.index)), el("span", "mention", "@" + entities.get(m[0])));
    last = m.index + m[0].length;
  }
  parent.append(document.createTextNode(s.slice(last)));
}

function acRun(run) {
  if (typeof run === "string") return document.createTextNode(run);
  return el("span", acClasses(run, "ac-run"), run && run.text !== undefined ? run.text : "");
}

function acAction(action) {
  const title = String((action && (action.title || action.url || action.type)) || "action");
  if (action && action.type === "Action.OpenUrl") {
    const node = link(String(action.url || ""), title);
    if (node.nodeType === Node.ELEMENT_NODE) node.className = "button ac-action";
    return node;
  }
  return el("span", "button", title);
}

function acColumns(item, ctx) {
  const node = el("div", "ac-columns");
  for (const column of Array.isArray(item.columns) ? item.columns : []) {
    const cell = el("div", "ac-column");
    const width = column && column.width;
    if (typeof width === "number" && width > 0) cell.style.flex = String(width) + " 1 0";
    else if (width === "auto") cell.style.flex = "0 0 auto";
    else if (/^\d{1,4}px$/.test(String(width))) cell.style.flex = "0 0 " + width;
    acItems(column && column.items, cell, ctx);
    node.append(cell);
  }
  return node;
}

function acElement(item, ctx) {
  switch (item.type) {
    case "TextBlock": {
      const node = el("div", acClasses(item, "ac-textblock"));
      acMarkdownText(item.text, node, ctx.entities);
      return node;
    }
    case "RichTextBlock": {
      const node = el("div", "ac-rich");
      (Array.isArray(item.inlines) ? item.inlines : []).forEach((run) => node.append(acRun(run)));
      return node;
    }
    case "Container": {
      const style = /^[a-z]+$/i.test(String(item.style)) ? " ac-style-" + String(item.style).toLowerCase() : "";
      const node = el("div", "ac-container" + style);
      acItems(item.items, node, ctx);
      return node;
    }
    case "ColumnSet":
      return acColumns(item, ctx);
    case "FactSet": {
      const node = el("div", "ac-facts");
      for (const fact of Array.isArray(item.facts) ? item.facts : []) {
        const title = el("div", "ac-fact-title");
        const value = el("div", "ac-fact-value");
        acMarkdownText(fact && fact.title, title, ctx.entities);
        acMarkdownText(fact && fact.value, value, ctx.entities);
        node.append(title, value);
      }
      return node;
    }
    case "ActionSet": {
      const node = el("div", "ac-actions");
      (Array.isArray(item.actions) ? item.actions : []).forEach((action) => node.append(acAction(action)));
      return node;
    }
    case "Image":
      return el("div", "placeholder", "🖼 " + (item.altText || "image"));
    default:
      return el("div", "unsupported", "[unsupported element: " + String(item.type) + "]");
  }
}

function acItems(items, parent, ctx) {
  for (const item of Array.isArray(items) ? items : []) {
    if (!item || typeof item !== "object") continue;
    if (item.separator && parent.children.length) parent.append(el("hr", "divider"));
    const node = acElement(item, ctx);
    if (item.spacing && String(item.spacing).toLowerCase() === "large") node.classList.add("ac-spaced");
    parent.append(node);
  }
}

function renderTeamsMessage(payload) {
  const node = el("div", "teams");
  for (const attachment of Array.isArray(payload.attachments) ? payload.attachments : []) {
    const card = (attachment && attachment.content) || {};
    const entities = new Map();
    const listed = card.msteams && Array.isArray(card.msteams.entities) ? card.msteams.entities : [];
    for (const entity of listed) {
      if (entity && entity.type === "mention" && typeof entity.text === "string") {
        entities.set(entity.text, String((entity.mentioned && entity.mentioned.name) || entity.text.slice(4, -5)));
      }
    }
    const cardNode = el("div", "ac-card");
    acItems(card.body, cardNode, { entities });
    if (Array.isArray(card.actions) && card.actions.length) {
      const actions = el("div", "ac-actions");
      card.actions.forEach((action) => actions.append(acAction(action)));
      cardNode.append(actions);
    }
    node.append(cardNode);
  }
  return node;
}
