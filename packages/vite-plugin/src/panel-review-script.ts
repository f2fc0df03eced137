/**
 * The review part of the dev panel's script (runs in the browser, after `PANEL_SCRIPT`, whose
 * `last`, `esc` and `render` it uses): each job's takes and candidates side by side, one click on
 * a candidate picks it, a candidate compared with the current output (slider or side by side),
 * and a new take that asks first, showing what it costs. Every action is a same-origin JSON POST;
 * the server decides, and the next state frame shows the result.
 */
export const REVIEW_SCRIPT = `
const openReviews = new Map()
const slots = new Map()
let comparing = null
let quoting = null
let toastTimer

/** Whether a job has anything to choose from: several takes, or more candidates than outputs. */
function hasChoices(job) {
  const review = job.review
  return Boolean(review) && (review.takes.length > 1 || review.takes.some((take) => take.candidates.length > job.n))
}

function jobById(id) {
  for (const recipe of last ? last.recipes : []) for (const job of recipe.jobs) if (job.id === id) return job
  return undefined
}

function renderReview(job) {
  const review = job.review
  if (!review || review.takes.length === 0) return ''
  const open = openReviews.has(job.id) ? openReviews.get(job.id) : hasChoices(job)
  const slot = slots.get(job.id) ?? 0
  const slotPicker = job.n > 1
    ? '<label class="slot">a click picks for <select data-slot>' + job.outputs.map((output, index) => '<option value="' + index + '"' + (index === slot ? ' selected' : '') + '>' + esc(output.path) + '</option>').join('') + '</select></label>'
    : ''
  const count = review.takes.length
  const picked = job.n === 1 ? 'image ' + review.picks[0] + ' is the output' : 'images ' + review.picks.join(', ') + ' are the outputs'
  const summary = count + ' take' + (count === 1 ? '' : 's') + (review.candidates > job.n ? ' · ' + review.candidates + ' candidates each' : '') + ' · take ' + review.take + ', ' + picked
  const busy = job.phase === 'running' || job.phase === 'queued'
  const takes = review.takes.slice().reverse().map((take) => renderTake(job, take)).join('')
  return '<details class="review"' + (open ? ' open' : '') + '><summary><span class="label">Takes</span><span class="review-summary">' + esc(summary) + '</span></summary>' +
    '<div class="review-tools">' + slotPicker + '<button type="button" class="button" data-action="new-take"' + (busy ? ' disabled title="being built"' : '') + '>New take…</button></div>' +
    takes + '</details>'
}

function renderTake(job, take) {
  const when = take.at ? new Date(take.at).toLocaleString() : ''
  const head = '<div class="take-head"><b>Take ' + take.take + '</b>' + (take.current ? '<span class="tag current">current</span>' : '') +
    '<span>' + esc(take.provider + ' · ' + take.model) + '</span>' + (when ? '<span>' + esc(when) + '</span>' : '') + '<span>' + esc(take.cost) + '</span>' +
    (take.lockOnly ? '<span>only its picked images are here (from the lock)</span>' : '') + '</div>'
  const candidates = take.candidates.map((candidate) => renderCandidate(take, candidate)).join('')
  return '<div class="take" data-take="' + take.take + '"' + (take.current ? ' data-current="true"' : '') + '>' + head + '<div class="candidates">' + candidates + '</div></div>'
}

function renderCandidate(take, candidate) {
  const picked = candidate.outputs.length > 0
  const name = 'take ' + take.take + ', image ' + candidate.image
  return '<figure class="candidate" data-image="' + candidate.image + '"' + (picked ? ' data-picked="true"' : '') + '>' +
    '<button type="button" class="pick" data-action="pick" title="' + esc(picked ? name + ': the output now' : 'Pick ' + name + ' (free)') + '">' +
    '<img loading="lazy" alt="' + esc(name) + '" src="' + esc(candidate.src) + '" width="' + candidate.width + '" height="' + candidate.height + '">' +
    (picked ? '<span class="picked-mark">✓ picked</span>' : '') + '</button>' +
    '<figcaption><span>#' + candidate.image + ' · ' + candidate.width + '×' + candidate.height + '</span><span>' +
    '<button type="button" class="link" data-action="zoom">enlarge</button>' +
    (picked ? '' : '<button type="button" class="link" data-action="compare">compare</button>') + '</span></figcaption></figure>'
}

async function post(route, body) {
  const response = await fetch(route, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
  const answer = await response.json().catch(() => ({ error: response.status + ' ' + response.statusText }))
  if (!response.ok) throw Object.assign(new Error(answer.error || response.statusText), { code: answer.code })
  return answer
}

function toast(message, bad) {
  const element = document.getElementById('toast')
  element.textContent = message
  element.classList.toggle('bad', Boolean(bad))
  element.hidden = false
  clearTimeout(toastTimer)
  toastTimer = setTimeout(() => { element.hidden = true }, bad ? 10000 : 4000)
}

/** One image per output: the clicked one for the chosen output, the others as they are (same take) or the take's first. */
function pickImages(job, take, image) {
  if (job.n === 1) return [image]
  const images = take === job.review.take ? job.review.picks.slice() : job.outputs.map((_, index) => index + 1)
  images[slots.get(job.id) ?? 0] = image
  return images
}

async function pick(job, take, image) {
  const images = pickImages(job, take, image)
  const review = job.review
  const what = 'take ' + take + ', image' + (images.length === 1 ? ' ' : 's ') + images.join(', ')
  if (take === review.take && images.every((value, index) => value === review.picks[index])) return toast(job.id + ': ' + what + ' is already the output')
  const element = document.querySelector('[data-job="' + CSS.escape(job.id) + '"] [data-take="' + take + '"] [data-image="' + image + '"]')
  if (element) element.dataset.busy = 'true'
  try {
    await post('pick', { job: job.id, take, images })
    toast(job.id + ': now ' + what + ' (free; the lock records it)')
  } catch (error) {
    if (element) delete element.dataset.busy
    toast(job.id + ': ' + error.message, true)
  }
}

function zoom(candidate, name) {
  document.getElementById('viewer-image').src = candidate.src
  document.getElementById('viewer-caption').textContent = name + ' · ' + candidate.width + '×' + candidate.height + ' · ' + candidate.sha256.slice(0, 12)
  document.getElementById('viewer').showModal()
}

function compare(job, take, candidate) {
  const slot = job.n === 1 ? 0 : (slots.get(job.id) ?? 0)
  const output = job.outputs[slot]
  comparing = { job: job.id, take: take.take, image: candidate.image }
  document.getElementById('compare-title').textContent = job.id + ': take ' + take.take + ', image ' + candidate.image + ' against ' + output.path
  document.getElementById('compare-current').src = output.src
  document.getElementById('compare-candidate').src = candidate.src
  document.getElementById('compare-candidate-caption').textContent = 'take ' + take.take + ', image ' + candidate.image
  document.getElementById('compare').showModal()
}

function money(cost) {
  try {
    return new Intl.NumberFormat('en-US', { style: 'currency', currency: cost.currency }).format(cost.amount)
  } catch {
    return cost.amount + ' ' + cost.currency
  }
}

function showTakeDialog(title, quote, error) {
  quoting = quote
  document.getElementById('take-title').textContent = title
  document.getElementById('take-cost').textContent = quote ? quote.text.head + ' (' + quote.provider + ' · ' + quote.model + ')' : ''
  document.getElementById('take-note').textContent = quote && quote.text.note ? quote.text.note : ''
  document.getElementById('take-unpriced').innerHTML = quote ? quote.text.unpriced.map((line) => '<li>' + esc(line) + '</li>').join('') : ''
  const failure = document.getElementById('take-error')
  failure.textContent = error || ''
  failure.hidden = !error
  const confirm = document.getElementById('take-confirm')
  confirm.hidden = !quote || Boolean(error)
  confirm.disabled = false
  if (quote) {
    const price = quote.paidImages === 0 ? 'free' : quote.cost.complete ? '≈ ' + money(quote.cost) : 'no known price'
    confirm.textContent = 'Generate ' + quote.newImages + ' image' + (quote.newImages === 1 ? '' : 's') + ' (' + price + ')'
  }
  const dialog = document.getElementById('confirm-take')
  if (!dialog.open) dialog.showModal()
}

async function newTake(job) {
  try {
    const quote = await post('take/quote', { job: job.id })
    showTakeDialog('New take ' + quote.take + ' of ' + quote.job + '?', quote)
  } catch (error) {
    showTakeDialog('No new take of ' + job.id, null, error.message)
  }
}

document.getElementById('take-confirm').addEventListener('click', async (event) => {
  const quote = quoting
  if (!quote) return
  event.currentTarget.disabled = true
  try {
    await post('take', { job: quote.job, token: quote.token })
    document.getElementById('confirm-take').close()
    toast(quote.job + ': new take ' + quote.take + ' started; it shows here as it runs')
  } catch (error) {
    showTakeDialog('New take ' + quote.take + ' of ' + quote.job + ' refused', quote, error.message)
  }
})

document.getElementById('recipes').addEventListener('click', (event) => {
  const button = event.target.closest('[data-action]')
  const holder = button && button.closest('[data-job]')
  const job = holder && jobById(holder.dataset.job)
  if (!job || !job.review || button.disabled) return
  if (button.dataset.action === 'new-take') return newTake(job)
  const take = job.review.takes.find((item) => String(item.take) === button.closest('[data-take]').dataset.take)
  const candidate = take && take.candidates.find((item) => String(item.image) === button.closest('[data-image]').dataset.image)
  if (!candidate) return
  if (button.dataset.action === 'pick') pick(job, take.take, candidate.image)
  else if (button.dataset.action === 'zoom') zoom(candidate, job.id + ': take ' + take.take + ', image ' + candidate.image)
  else if (button.dataset.action === 'compare') compare(job, take, candidate)
})

document.getElementById('recipes').addEventListener('change', (event) => {
  const select = event.target.closest('[data-slot]')
  if (!select) return
  slots.set(select.closest('[data-job]').dataset.job, Number(select.value))
  if (last) render(last)
})

// 'toggle' does not bubble: listen in the capture phase.
document.getElementById('recipes').addEventListener('toggle', (event) => {
  if (event.target.matches && event.target.matches('details.review')) openReviews.set(event.target.closest('[data-job]').dataset.job, event.target.open)
}, true)

for (const dialog of document.querySelectorAll('dialog')) {
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog || event.target.closest('[data-close]')) dialog.close()
  })
}

document.getElementById('compare-range').addEventListener('input', (event) => {
  document.getElementById('compare-body').style.setProperty('--split', event.target.value + '%')
})

document.getElementById('compare-modes').addEventListener('click', (event) => {
  const mode = event.target.closest('[data-mode]')
  if (!mode) return
  document.getElementById('compare-body').dataset.mode = mode.dataset.mode
  document.getElementById('compare-range').hidden = mode.dataset.mode !== 'slider'
  for (const button of document.querySelectorAll('#compare-modes [data-mode]')) button.setAttribute('aria-pressed', String(button === mode))
})

document.getElementById('compare-pick').addEventListener('click', () => {
  const job = comparing && jobById(comparing.job)
  document.getElementById('compare').close()
  if (job) pick(job, comparing.take, comparing.image)
})
`
