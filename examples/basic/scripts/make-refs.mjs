// Regenerates the small reference images of this example with sharp (they are committed; run
// this only to change them): node examples/basic/scripts/make-refs.mjs
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

// A city skyline: sky gradient and blocks of buildings.
let buildings = ''
for (let i = 0; i < 12; i++) {
  const h = 60 + ((i * 53) % 120)
  buildings += `<rect x="${i * 27}" y="${240 - h}" width="24" height="${h}" fill="hsl(${210 + i * 7},30%,${20 + (i % 4) * 6}%)"/>`
}
await write(
  'refs/city.png',
  sharp(
    svg(
      320,
      240,
      `<defs><linearGradient id="s" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#ff8a5c"/><stop offset="1" stop-color="#3b2c85"/></linearGradient></defs><rect width="320" height="240" fill="url(#s)"/>${buildings}`,
    ),
  ).png(),
)

// A portrait: a head and shoulders on a flat background.
await write(
  'refs/portrait.jpg',
  sharp(
    svg(
      240,
      300,
      '<rect width="240" height="300" fill="#8fb9a8"/><ellipse cx="120" cy="300" rx="100" ry="80" fill="#2d3a4a"/><circle cx="120" cy="130" r="62" fill="#e0ac8b"/><rect x="70" y="60" width="100" height="40" rx="20" fill="#3a2418"/>',
    ),
  ).jpeg({ quality: 85 }),
)

// The mask for the portrait: transparent (repaint) background, opaque (keep) subject.
await write(
  'masks/portrait-bg.png',
  sharp(
    svg(
      240,
      300,
      '<ellipse cx="120" cy="300" rx="104" ry="84" fill="#fff"/><circle cx="120" cy="130" r="66" fill="#fff"/><rect x="66" y="56" width="108" height="48" rx="22" fill="#fff"/>',
    ),
  )
    .ensureAlpha()
    .png(),
)

// A marble texture and three products for the `each` fan-out.
await write(
  'refs/marble.jpg',
  sharp(
    svg(
      256,
      256,
      '<rect width="256" height="256" fill="#eeeae4"/><path d="M0 60 C 80 20, 120 140, 256 90" stroke="#b9b2a7" stroke-width="5" fill="none"/><path d="M0 200 C 90 150, 160 250, 256 180" stroke="#c9c2b7" stroke-width="3" fill="none"/>',
    ),
  ).jpeg({ quality: 85 }),
)
const products = {
  bottle:
    '<rect width="200" height="200" fill="#f4f4f4"/><rect x="80" y="40" width="40" height="130" rx="14" fill="#2f7d4a"/><rect x="90" y="20" width="20" height="24" fill="#1d1d1d"/>',
  mug: '<rect width="200" height="200" fill="#f4f4f4"/><rect x="55" y="60" width="80" height="100" rx="8" fill="#c44536"/><circle cx="145" cy="110" r="24" fill="none" stroke="#c44536" stroke-width="10"/>',
  lamp: '<rect width="200" height="200" fill="#f4f4f4"/><polygon points="60,40 140,40 160,100 40,100" fill="#e9c46a"/><rect x="95" y="100" width="10" height="70" fill="#444"/><rect x="65" y="170" width="70" height="10" fill="#444"/>',
}
for (const [name, body] of Object.entries(products)) await write(`refs/products/${name}.jpg`, sharp(svg(200, 200, body)).jpeg({ quality: 85 }))
console.log('reference images written under', root)
