// Regenerates the small reference images of this example with sharp. They are committed; run this
// only to change them: node examples/vite-app/scripts/make-refs.mjs
import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

function svg(width, height, body) {
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`)
}

async function write(path, image) {
  await mkdir(dirname(join(root, path)), { recursive: true })
  await image.toFile(join(root, path))
}

// A coastline at dusk: sky gradient, sun, sea and two hills.
await write(
  'refs/coast.jpg',
  sharp(
    svg(
      320,
      180,
      '<defs><linearGradient id="s" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#2b2d6e"/><stop offset=".6" stop-color="#f08a5d"/><stop offset="1" stop-color="#ffd29d"/></linearGradient></defs><rect width="320" height="180" fill="url(#s)"/><circle cx="220" cy="112" r="26" fill="#ffe6a7"/><rect y="118" width="320" height="62" fill="#23507a"/><path d="M0 120 Q 60 70 130 120 Z" fill="#1b2a3a"/><path d="M250 120 Q 290 88 320 104 L320 120 Z" fill="#22344a"/>',
    ),
  ).jpeg({ quality: 80 }),
)

// A paper texture to blend into the poster.
await write(
  'refs/paper.jpg',
  sharp(
    svg(
      160,
      160,
      '<rect width="160" height="160" fill="#efe6d2"/><path d="M0 40 C 40 30, 80 60, 160 44 M0 110 C 50 96, 110 130, 160 112" stroke="#d9ccb0" stroke-width="3" fill="none"/>',
    ),
  ).jpeg({ quality: 80 }),
)

// A portrait: head and shoulders on a flat background, and its mask (transparent = repaint).
await write(
  'refs/portrait.png',
  sharp(
    svg(
      200,
      250,
      '<rect width="200" height="250" fill="#8fb9a8"/><ellipse cx="100" cy="250" rx="84" ry="66" fill="#2d3a4a"/><circle cx="100" cy="110" r="52" fill="#e0ac8b"/><rect x="58" y="50" width="84" height="34" rx="17" fill="#3a2418"/>',
    ),
  ).png({ palette: true }),
)
await write(
  'masks/portrait-bg.png',
  sharp(
    svg(
      200,
      250,
      '<ellipse cx="100" cy="250" rx="88" ry="70" fill="#fff"/><circle cx="100" cy="110" r="56" fill="#fff"/><rect x="54" y="46" width="92" height="42" rx="19" fill="#fff"/>',
    ),
  )
    .ensureAlpha()
    .png({ palette: true }),
)

// Three products for the `each` fan-out.
const products = {
  bottle:
    '<rect width="160" height="160" fill="#f4f4f4"/><rect x="64" y="32" width="32" height="104" rx="11" fill="#2f7d4a"/><rect x="72" y="16" width="16" height="20" fill="#1d1d1d"/>',
  mug: '<rect width="160" height="160" fill="#f4f4f4"/><rect x="44" y="48" width="64" height="80" rx="6" fill="#c44536"/><circle cx="116" cy="88" r="19" fill="none" stroke="#c44536" stroke-width="8"/>',
  lamp: '<rect width="160" height="160" fill="#f4f4f4"/><polygon points="48,32 112,32 128,80 32,80" fill="#e9c46a"/><rect x="76" y="80" width="8" height="56" fill="#444"/><rect x="52" y="136" width="56" height="8" fill="#444"/>',
}
for (const [name, body] of Object.entries(products)) await write(`refs/products/${name}.jpg`, sharp(svg(160, 160, body)).jpeg({ quality: 80 }))
console.log('reference images written under', root)
