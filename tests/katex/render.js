#!/usr/bin/env node
// Renders LaTeX strings with KaTeX and reports, for each, whether it rendered.
//
// Batch mode (default):
//   stdin:  a JSON array of strings (each rendered in display mode), or of
//           objects {"tex": "...", "display": true|false}
//   stdout: {"katex": version, "results": [...]}, one result per input, in order:
//           {"ok": true, "html": "..."} or {"ok": false, "error": "..."}
// Line mode (--lines), for a long-lived process:
//   each stdin line is one JSON string or object; each answer is one JSON line.
//
// throwOnError makes a parse error an error (not red text), and strict: "error"
// also rejects input that KaTeX would accept but LaTeX would not.
"use strict";

const katex = require("katex");
const readline = require("readline");

function renderOne(item) {
  const tex = typeof item === "string" ? item : item.tex;
  const display = typeof item === "string" ? true : item.display !== false;
  try {
    const html = katex.renderToString(tex, {
      displayMode: display,
      throwOnError: true,
      strict: "error",
      trust: false,
      // KaTeX's guard against runaway macros counts every \operatorname: a long (valid)
      // second derivative of a random expression passes 1000 expansions
      maxExpand: 100000,
    });
    return { ok: true, html };
  } catch (e) {
    return { ok: false, error: String(e && e.message ? e.message : e) };
  }
}

if (process.argv.includes("--lines")) {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  rl.on("line", (line) => {
    if (line.trim() === "") return;
    process.stdout.write(JSON.stringify(renderOne(JSON.parse(line))) + "\n");
  });
} else {
  let input = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => {
    input += chunk;
  });
  process.stdin.on("end", () => {
    const items = JSON.parse(input);
    process.stdout.write(JSON.stringify({ katex: katex.version, results: items.map(renderOne) }));
  });
}
