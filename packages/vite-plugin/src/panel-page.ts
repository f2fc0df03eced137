import { REVIEW_SCRIPT } from './panel-review-script.js'
import { PANEL_SCRIPT } from './panel-script.js'

/**
 * The dev panel at `/__images-edit/`: one self-contained page (no framework, no build step) that
 * reads `state.json` once and then follows `events` (server-sent events). Everything it shows
 * comes from the engine's job views and takes; its actions (pick, new take) are POSTs the server
 * decides.
 */
export const PANEL_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>images-edit · dev panel</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect width='16' height='16' rx='4' fill='%236d5efc'/%3E%3Cpath d='M3 12l3-4 2 2.5L10.5 7 13 12z' fill='white'/%3E%3C/svg%3E">
<style>
  :root {
    --bg: #f6f7fb; --card: #ffffff; --ink: #1c1f2b; --muted: #6b7085; --line: #e4e6ef; --soft: #f0f1f7;
    --accent: #6d5efc; --ready: #1f9d61; --running: #2f6fe4; --queued: #8a8fa3; --failed: #d64545; --blocked: #c98a12;
    --shadow: 0 1px 2px rgba(20, 24, 40, .06), 0 8px 24px rgba(20, 24, 40, .06);
    color-scheme: light dark;
  }
  @media (prefers-color-scheme: dark) {
    :root { --bg: #11131a; --card: #191c26; --ink: #e8eaf2; --muted: #9aa0b5; --line: #2a2e3c; --soft: #222636; --shadow: 0 1px 2px rgba(0,0,0,.4); }
  }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--ink); font: 14px/1.45 ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
  header { position: sticky; top: 0; z-index: 2; display: flex; flex-wrap: wrap; align-items: center; gap: 12px 20px; padding: 14px 28px; background: color-mix(in srgb, var(--bg) 88%, transparent); backdrop-filter: blur(8px); border-bottom: 1px solid var(--line); }
  .brand { display: flex; align-items: center; gap: 10px; font-weight: 650; font-size: 16px; letter-spacing: -.01em; }
  .logo { width: 26px; height: 26px; border-radius: 7px; background: linear-gradient(135deg, var(--accent), #b05efc); display: grid; place-items: center; }
  .logo svg { width: 16px; height: 16px; }
  .manifest { color: var(--muted); font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
  .counts { display: flex; gap: 6px; flex-wrap: wrap; margin-left: auto; }
  .chip { border: 1px solid var(--line); background: var(--card); color: var(--ink); border-radius: 999px; padding: 3px 10px; font-size: 12.5px; cursor: pointer; display: inline-flex; align-items: center; gap: 6px; }
  .chip[aria-pressed="true"] { border-color: var(--accent); box-shadow: 0 0 0 2px color-mix(in srgb, var(--accent) 25%, transparent); }
  .dot { width: 8px; height: 8px; border-radius: 50%; background: var(--queued); flex: none; }
  .live { font-size: 12.5px; color: var(--muted); display: inline-flex; align-items: center; gap: 6px; }
  .live .dot { background: var(--failed); }
  .live.on .dot { background: var(--ready); box-shadow: 0 0 0 3px color-mix(in srgb, var(--ready) 25%, transparent); }
  main { padding: 22px 28px 48px; max-width: 1480px; margin: 0 auto; }
  .banner { border-radius: 12px; padding: 14px 16px; margin-bottom: 18px; border: 1px solid; }
  .banner h2 { margin: 0 0 6px; font-size: 14px; }
  .banner.error { background: color-mix(in srgb, var(--failed) 8%, var(--card)); border-color: color-mix(in srgb, var(--failed) 35%, transparent); }
  .banner.warn { background: color-mix(in srgb, var(--blocked) 8%, var(--card)); border-color: color-mix(in srgb, var(--blocked) 35%, transparent); }
  pre { margin: 0; white-space: pre-wrap; font: 12.5px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 18px; }
  .card { background: var(--card); border: 1px solid var(--line); border-radius: 14px; box-shadow: var(--shadow); overflow: hidden; display: flex; flex-direction: column; }
  .card > .top { display: flex; align-items: center; gap: 10px; padding: 14px 16px 6px; }
  .card h3 { margin: 0; font-size: 15.5px; font-weight: 650; letter-spacing: -.01em; word-break: break-all; }
  .state { margin-left: auto; display: inline-flex; align-items: center; gap: 6px; font-size: 12px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; padding: 3px 9px; border-radius: 999px; background: var(--soft); white-space: nowrap; }
  [data-state="ready"] .state { color: var(--ready); } [data-state="ready"] .state .dot { background: var(--ready); }
  [data-state="running"] .state { color: var(--running); } [data-state="running"] .state .dot { background: var(--running); animation: pulse 1.2s infinite; }
  [data-state="queued"] .state { color: var(--queued); }
  [data-state="failed"] .state { color: var(--failed); } [data-state="failed"] .state .dot { background: var(--failed); }
  [data-state="blocked"] .state { color: var(--blocked); } [data-state="blocked"] .state .dot { background: var(--blocked); }
  .card[data-state="failed"] { border-color: color-mix(in srgb, var(--failed) 45%, var(--line)); }
  @keyframes pulse { 50% { opacity: .35; } }
  .meta { padding: 0 16px; color: var(--muted); font-size: 12.5px; display: flex; flex-wrap: wrap; gap: 4px 10px; }
  .tag { background: var(--soft); border-radius: 6px; padding: 1px 7px; }
  .tag.placeholder { background: color-mix(in srgb, var(--blocked) 16%, transparent); color: color-mix(in srgb, var(--blocked) 80%, var(--ink)); }
  .prompt { margin: 10px 16px 4px; padding: 8px 12px; border-left: 3px solid var(--accent); background: var(--soft); border-radius: 0 8px 8px 0; font-size: 13.5px; }
  .job { padding: 10px 16px 14px; border-top: 1px dashed var(--line); margin-top: 8px; }
  .job:first-of-type { border-top: 0; }
  .job-head { display: flex; align-items: center; gap: 8px; font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: var(--muted); margin-bottom: 6px; }
  .job-head .state { font-family: inherit; }
  .job-prompt { margin: 0 0 8px; font-size: 12.5px; padding: 5px 10px; }
  .row { display: flex; gap: 14px; align-items: flex-start; flex-wrap: wrap; }
  .group { display: flex; flex-direction: column; gap: 4px; }
  .label { font-size: 11px; font-weight: 600; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); }
  .thumbs { display: flex; gap: 6px; flex-wrap: wrap; }
  .thumb { position: relative; display: block; border-radius: 8px; overflow: hidden; border: 1px solid var(--line); background: repeating-conic-gradient(#d9dbe4 0% 25%, #ffffff 0% 50%) 50% / 12px 12px; }
  .thumb img { display: block; height: 64px; width: auto; max-width: 160px; object-fit: cover; }
  .outputs .thumb img { height: 96px; max-width: 220px; }
  .thumb .size { position: absolute; left: 4px; bottom: 4px; font: 10.5px ui-monospace, monospace; color: #fff; background: rgba(0,0,0,.55); padding: 0 5px; border-radius: 4px; }
  .thumb .flag { position: absolute; right: 4px; top: 4px; font-size: 10px; font-weight: 700; text-transform: uppercase; color: #1c1f2b; background: #facc15; padding: 0 5px; border-radius: 4px; }
  .progress { margin-top: 10px; height: 6px; border-radius: 999px; background: var(--soft); overflow: hidden; }
  .progress > div { height: 100%; background: linear-gradient(90deg, var(--running), var(--accent)); transition: width .4s ease; }
  .progress.indeterminate > div { width: 35% !important; animation: slide 1.3s ease-in-out infinite; }
  @keyframes slide { from { transform: translateX(-100%); } to { transform: translateX(300%); } }
  .stage { margin-top: 4px; font-size: 12px; color: var(--muted); }
  .error { margin-top: 10px; padding: 8px 10px; border-radius: 8px; background: color-mix(in srgb, var(--failed) 10%, transparent); color: color-mix(in srgb, var(--failed) 85%, var(--ink)); font-size: 12.5px; }
  .reasons { margin: 8px 0 0; padding-left: 18px; color: var(--muted); font-size: 12.5px; }
  .empty { color: var(--muted); text-align: center; padding: 80px 0; }
  footer { color: var(--muted); font-size: 12px; text-align: center; padding: 0 0 28px; }
  .card.wide { grid-column: 1 / -1; }
  .button { border: 1px solid var(--line); background: var(--card); color: var(--ink); border-radius: 8px; padding: 5px 12px; font: inherit; font-size: 13px; cursor: pointer; }
  .button:hover:not(:disabled) { border-color: var(--accent); }
  .button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
  .button:disabled { opacity: .5; cursor: not-allowed; }
  .link { background: none; border: 0; padding: 0 0 0 10px; color: var(--accent); font: inherit; cursor: pointer; }
  .review { margin-top: 12px; padding-top: 10px; border-top: 1px solid var(--line); }
  .review > summary { cursor: pointer; display: flex; align-items: center; gap: 10px; list-style: none; }
  .review > summary::-webkit-details-marker { display: none; }
  .review > summary::before { content: '▸'; color: var(--muted); transition: transform .15s; }
  .review[open] > summary::before { transform: rotate(90deg); }
  .review-summary { color: var(--muted); font-size: 12.5px; }
  .review-tools { display: flex; gap: 12px; align-items: center; justify-content: flex-end; margin: 4px 0 2px; }
  .slot { font-size: 12.5px; color: var(--muted); }
  .take { margin-top: 10px; padding: 10px 12px 12px; border-radius: 10px; background: var(--soft); }
  .take[data-current="true"] { box-shadow: inset 0 0 0 2px color-mix(in srgb, var(--accent) 45%, transparent); }
  .take-head { display: flex; flex-wrap: wrap; gap: 4px 12px; align-items: center; font-size: 12.5px; color: var(--muted); margin-bottom: 8px; }
  .take-head b { color: var(--ink); font-size: 13.5px; }
  .tag.current { background: var(--accent); color: #fff; }
  .candidates { display: flex; gap: 14px; flex-wrap: wrap; }
  .candidate { margin: 0; width: 246px; display: flex; flex-direction: column; gap: 4px; }
  .candidate .pick { position: relative; display: block; padding: 0; border: 3px solid transparent; border-radius: 10px; overflow: hidden; cursor: pointer; background: repeating-conic-gradient(#d9dbe4 0% 25%, #ffffff 0% 50%) 50% / 12px 12px; }
  .candidate .pick:hover { border-color: color-mix(in srgb, var(--accent) 55%, transparent); }
  .candidate[data-picked="true"] .pick { border-color: var(--ready); cursor: default; }
  .candidate[data-busy="true"] .pick { opacity: .55; cursor: progress; }
  .candidate img { display: block; width: 100%; height: auto; }
  .picked-mark { position: absolute; left: 6px; top: 6px; background: var(--ready); color: #fff; font-size: 11px; font-weight: 700; padding: 1px 8px; border-radius: 999px; }
  .candidate figcaption { display: flex; justify-content: space-between; font-size: 12px; color: var(--muted); }
  dialog.sheet { border: 1px solid var(--line); border-radius: 14px; background: var(--card); color: var(--ink); padding: 16px 18px; box-shadow: var(--shadow); max-width: min(92vw, 1200px); }
  dialog.sheet::backdrop { background: rgba(10, 12, 20, .55); }
  .sheet-head { display: flex; align-items: center; gap: 14px; margin-bottom: 10px; }
  .sheet-head .close { margin-left: auto; }
  .close { border: 0; background: none; color: var(--muted); font-size: 22px; line-height: 1; cursor: pointer; }
  #viewer img { display: block; max-width: 86vw; max-height: 78vh; margin: 0 auto; }
  #viewer p { margin: 8px 0 0; color: var(--muted); font: 12.5px ui-monospace, monospace; }
  .seg { display: inline-flex; border: 1px solid var(--line); border-radius: 8px; overflow: hidden; }
  .seg button { border: 0; background: var(--card); color: var(--ink); padding: 4px 12px; font: inherit; font-size: 13px; cursor: pointer; }
  .seg button[aria-pressed="true"] { background: var(--accent); color: #fff; }
  #compare-body { --split: 50%; position: relative; display: grid; width: min(86vw, 1000px); }
  #compare-body figure { margin: 0; position: relative; }
  #compare-body img { display: block; width: 100%; height: auto; }
  #compare-body figcaption { position: absolute; bottom: 8px; font-size: 12px; color: #fff; background: rgba(0,0,0,.6); padding: 2px 8px; border-radius: 6px; }
  #compare-body[data-mode="slider"] figure { grid-area: 1 / 1; }
  #compare-body[data-mode="slider"] figure:first-child figcaption { left: 8px; }
  #compare-body[data-mode="slider"] .over { clip-path: inset(0 0 0 var(--split)); }
  #compare-body[data-mode="slider"] .over figcaption { right: 8px; }
  #compare-body[data-mode="slider"]::after { content: ''; position: absolute; top: 0; bottom: 0; left: var(--split); width: 2px; background: #fff; box-shadow: 0 0 4px rgba(0,0,0,.5); pointer-events: none; }
  #compare-body[data-mode="side"] { grid-template-columns: 1fr 1fr; gap: 12px; }
  #compare-body[data-mode="side"] figcaption { left: 8px; }
  #compare-range { width: 100%; margin: 10px 0 0; }
  .actions { display: flex; justify-content: flex-end; gap: 10px; margin-top: 14px; }
  #confirm-take { width: min(92vw, 520px); }
  #confirm-take h2 { margin: 0 0 8px; font-size: 16px; }
  #confirm-take .cost { font-size: 15px; font-weight: 600; margin: 0 0 6px; }
  #take-note { color: var(--muted); font-size: 12.5px; margin: 0; }
  #take-unpriced { color: var(--blocked); font-size: 12.5px; margin: 6px 0 0; padding-left: 18px; }
  #toast { position: fixed; right: 20px; bottom: 20px; z-index: 5; max-width: 460px; padding: 10px 14px; border-radius: 10px; background: var(--ink); color: var(--bg); box-shadow: var(--shadow); font-size: 13px; }
  #toast.bad { background: var(--failed); color: #fff; }
</style>
</head>
<body>
<header>
  <div class="brand"><span class="logo"><svg viewBox="0 0 16 16"><path d="M2 13l3.5-5 2.5 3 2.5-3.5L14 13z" fill="white"/><circle cx="11.5" cy="4" r="1.6" fill="white"/></svg></span>images-edit</div>
  <span class="manifest" id="manifest"></span>
  <nav class="counts" id="counts" aria-label="filter by state"></nav>
  <span class="live" id="live"><span class="dot"></span><span>connecting…</span></span>
</header>
<main>
  <div id="banners"></div>
  <section class="grid" id="recipes" aria-live="polite"></section>
</main>
<dialog id="viewer" class="sheet"><form method="dialog" class="sheet-head"><button class="close" aria-label="close">×</button></form><img id="viewer-image" alt=""><p id="viewer-caption"></p></dialog>
<dialog id="compare" class="sheet">
  <div class="sheet-head"><b id="compare-title"></b><span class="seg" id="compare-modes" role="group" aria-label="compare as"><button type="button" data-mode="slider" aria-pressed="true">Slider</button><button type="button" data-mode="side" aria-pressed="false">Side by side</button></span><button type="button" class="close" data-close aria-label="close">×</button></div>
  <div id="compare-body" data-mode="slider">
    <figure><img id="compare-current" alt="the current output"><figcaption>current output</figcaption></figure>
    <figure class="over"><img id="compare-candidate" alt="the candidate"><figcaption id="compare-candidate-caption">candidate</figcaption></figure>
  </div>
  <input id="compare-range" type="range" min="0" max="100" value="50" aria-label="slide between the current output and the candidate">
  <div class="actions"><button type="button" class="button" data-close>Close</button><button type="button" class="button primary" id="compare-pick">Pick this candidate</button></div>
</dialog>
<dialog id="confirm-take" class="sheet">
  <h2 id="take-title"></h2>
  <p class="cost" id="take-cost"></p>
  <p id="take-note"></p>
  <ul id="take-unpriced"></ul>
  <p class="error" id="take-error" hidden></p>
  <div class="actions"><button type="button" class="button" data-close>Cancel</button><button type="button" class="button primary" id="take-confirm">Generate</button></div>
</dialog>
<div id="toast" role="status" aria-live="polite" hidden></div>
<footer>Updates live from the Vite dev server · outputs marked <b>placeholder</b> are the offline <code>local</code> provider's stand-ins</footer>
<script type="module">
${PANEL_SCRIPT}
${REVIEW_SCRIPT}</script>
</body>
</html>
`
