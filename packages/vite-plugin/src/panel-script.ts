/**
 * The dev panel's script (runs in the browser, inside `PANEL_HTML`): renders the state it reads
 * once from `state.json` and then from `events` (server-sent events), filters by state, and
 * keeps each card's DOM unless its HTML changed. The review part is `panel-review-script.ts`.
 */
export const PANEL_SCRIPT = `const PHASES = ['ready', 'running', 'queued', 'blocked', 'failed']
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
    progress + error + reasons + renderReview(job) + '</div>'
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
    first.review && first.review.candidates > first.n ? '<span>' + first.review.candidates + ' candidates per take</span>' : '',
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
  // state.json and the event stream race at load: never draw an older state over a newer one.
  if (last && state.at < last.at) return
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
    // Candidates side by side need the whole row.
    card.classList.toggle('wide', recipe.jobs.some(hasChoices))
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
`
