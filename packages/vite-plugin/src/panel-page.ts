/**
 * The dev panel at `/__images-edit/`: one self-contained page (no framework, no build step) that
 * reads `state.json` once and then follows `events` (server-sent events). Everything it shows
 * comes from the engine's job views; it decides nothing.
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
<footer>Updates live from the Vite dev server · outputs marked <b>placeholder</b> are the offline <code>local</code> provider's stand-ins</footer>
<script type="module">
const PHASES = ['ready', 'running', 'queued', 'blocked', 'failed']
const RANK = { failed: 5, blocked: 4, running: 3, queued: 2, ready: 1 }
let filter = null
let last = null
const cards = new Map()

const esc = (value) => String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])

function recipeState(jobs) {
  return jobs.reduce((worst, job) => (RANK[job.phase] > RANK[worst] ? job.phase : worst), 'ready')
}

function thumb(url, title, extra = '') {
  return '<a class="thumb" href="' + esc(url) + '" target="_blank" title="' + esc(title) + '"><img loading="lazy" alt="' + esc(title) + '" src="' + esc(url) + '">' + extra + '</a>'
}

function renderJob(job, showHead, showPrompt) {
  const refs = job.refs.map((ref) => thumb(ref.url, ref.source)).join('')
  const mask = job.mask ? '<div class="group"><span class="label">Mask</span><div class="thumbs">' + thumb(job.mask.url, job.mask.source) + '</div></div>' : ''
  const outputs = job.outputs.map((output) => {
    const size = output.width ? '<span class="size">' + output.width + '×' + output.height + '</span>' : ''
    const flag = !output.ready ? '<span class="flag">placeholder</span>' : job.local ? '<span class="flag">local</span>' : ''
    return thumb(output.src, output.path + (output.ready ? '' : ' (placeholder until ready)'), size + flag)
  }).join('')
  const running = job.phase === 'running' || job.phase === 'queued'
  const progress = running
    ? '<div class="progress' + (job.percent === undefined ? ' indeterminate' : '') + '"><div style="width:' + (job.percent ?? 0) + '%"></div></div><div class="stage">' + esc(job.stage ?? job.phase) + (job.percent !== undefined ? ' · ' + job.percent + '%' : '') + '</div>'
    : ''
  const error = job.error ? '<div class="error">' + esc(job.error) + '</div>' : ''
  const reasons = job.reasons.length && job.phase !== 'ready' ? '<ul class="reasons">' + job.reasons.map((r) => '<li>' + esc(r) + '</li>').join('') + '</ul>' : ''
  const head = showHead ? '<div class="job-head" data-state="' + job.phase + '"><span>' + esc(job.id) + '</span><span title="cache key">#' + esc(job.key) + '</span><span class="state"><span class="dot"></span>' + job.phase + '</span></div>' : ''
  const prompt = showPrompt ? '<div class="prompt job-prompt">' + esc(job.prompt) + '</div>' : ''
  return '<div class="job" data-job="' + esc(job.id) + '" data-state="' + job.phase + '">' + head + prompt +
    '<div class="row"><div class="group"><span class="label">Refs</span><div class="thumbs">' + refs + '</div></div>' + mask +
    '<div class="group outputs"><span class="label">Outputs</span><div class="thumbs">' + outputs + '</div></div></div>' +
    progress + error + reasons + '</div>'
}

function renderCard(recipe) {
  const first = recipe.jobs[0]
  const state = recipeState(recipe.jobs)
  const size = first.size ? first.size.width + '×' + first.size.height : 'auto size'
  const meta = [
    '<span class="tag">' + esc(first.provider) + '</span>',
    first.local ? '<span class="tag placeholder">placeholder results</span>' : '',
    '<span>' + esc(first.model) + '</span>',
    '<span>' + size + ' ' + esc(first.format) + '</span>',
    first.n > 1 ? '<span>n = ' + first.n + '</span>' : '',
    recipe.jobs.length > 1 ? '<span>each × ' + recipe.jobs.length + '</span>' : '',
    recipe.jobs.length === 1 ? '<span title="cache key">#' + esc(first.key) + '</span>' : '',
  ].join('')
  // One prompt for the recipe, or (an each fan-out with {stem} in it) one per job.
  const shared = recipe.jobs.every((job) => job.prompt === first.prompt)
  return '<div class="top"><h3>' + esc(recipe.id) + '</h3><span class="state"><span class="dot"></span>' + state + '</span></div>' +
    '<div class="meta">' + meta + '</div>' +
    (shared ? '<div class="prompt">' + esc(first.prompt) + '</div>' : '') +
    recipe.jobs.map((job) => renderJob(job, recipe.jobs.length > 1, !shared)).join('')
}

function render(state) {
  last = state
  document.getElementById('manifest').textContent = state.manifest
  const counts = document.getElementById('counts')
  counts.innerHTML = PHASES.filter((phase) => state.counts[phase] > 0 || phase === 'ready').map((phase) =>
    '<button class="chip" data-phase="' + phase + '" aria-pressed="' + (filter === phase) + '"><span class="dot" style="background:var(--' + phase + ')"></span>' + state.counts[phase] + ' ' + phase + '</button>').join('')
  const banners = []
  if (state.error) banners.push('<div class="banner error"><h2>images-edit cannot run</h2><pre>' + esc(state.error) + '</pre></div>')
  if (state.manifestErrors) banners.push('<div class="banner error" id="manifest-errors"><h2>The manifest has errors — showing the last good state</h2><pre>' + esc(state.manifestErrors) + '</pre></div>')
  if (state.warnings.length) banners.push('<div class="banner warn"><h2>Warnings</h2><pre>' + esc(state.warnings.join('\\n')) + '</pre></div>')
  document.getElementById('banners').innerHTML = banners.join('')

  const grid = document.getElementById('recipes')
  const seen = new Set()
  for (const recipe of state.recipes) {
    seen.add(recipe.id)
    const html = renderCard(recipe)
    let card = cards.get(recipe.id)
    if (!card) {
      card = document.createElement('article')
      card.className = 'card'
      card.dataset.recipe = recipe.id
      cards.set(recipe.id, card)
    }
    grid.appendChild(card)
    card.dataset.state = recipeState(recipe.jobs)
    card.hidden = filter !== null && !recipe.jobs.some((job) => job.phase === filter)
    if (card.dataset.html !== html) {
      card.innerHTML = html
      card.dataset.html = html
    }
  }
  for (const [id, card] of cards) if (!seen.has(id)) { card.remove(); cards.delete(id) }
  if (state.recipes.length === 0 && !state.error) grid.innerHTML = '<p class="empty">No recipes yet.</p>'
}

document.getElementById('counts').addEventListener('click', (event) => {
  const chip = event.target.closest('[data-phase]')
  if (!chip) return
  filter = filter === chip.dataset.phase ? null : chip.dataset.phase
  if (last) render(last)
})

function setLive(on) {
  const live = document.getElementById('live')
  live.classList.toggle('on', on)
  live.lastElementChild.textContent = on ? 'live' : 'reconnecting…'
}

fetch('state.json').then((response) => response.json()).then(render).catch(() => {})
const events = new EventSource('events')
events.addEventListener('state', (event) => render(JSON.parse(event.data)))
events.addEventListener('open', () => setLive(true))
events.addEventListener('error', () => setLive(false))
</script>
</body>
</html>
`
