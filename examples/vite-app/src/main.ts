import avatar from 'images-edit:avatar'
import hero from 'images-edit:hero'
import portraitSky from 'images-edit:portrait-sky'
import product from 'images-edit:product'
import type { ImagesEditImage, ImagesEditModule } from 'vite-plugin-images-edit'
import mask from '../masks/portrait-bg.png'
import portrait from '../refs/portrait.png'
import './style.css'

/** An <img> with the exact size the recipe asked for, so the layout never jumps when HMR swaps it. */
function picture(image: ImagesEditImage | ImagesEditModule, recipe: string | undefined, caption: string): HTMLElement {
  const figure = document.createElement('figure')
  const img = document.createElement('img')
  img.src = image.src
  img.width = image.width
  img.height = image.height
  img.alt = caption
  if (recipe) img.dataset.recipe = recipe
  const label = document.createElement('figcaption')
  label.textContent = caption
  figure.append(img, label)
  return figure
}

function section(title: string, note: string, ...figures: HTMLElement[]): HTMLElement {
  const element = document.createElement('section')
  element.className = title === 'hero' ? 'recipe wide' : 'recipe'
  const heading = document.createElement('h2')
  heading.textContent = title
  const text = document.createElement('p')
  text.className = 'note'
  text.textContent = note
  const row = document.createElement('div')
  row.className = 'row'
  row.append(...figures)
  element.append(heading, text, row)
  return element
}

function reference(src: string, caption: string): HTMLElement {
  return picture({ src, width: 200, height: 250, format: 'png', job: 'ref', placeholder: false }, undefined, caption)
}

document
  .querySelector('#app')
  ?.append(
    section(
      'hero',
      'Two references blended into one 16:9 poster; three candidates per take, pick one in the dev panel.',
      picture(hero, 'hero', `hero · ${hero.width}×${hero.height}`),
    ),
    section(
      'portrait-sky',
      'A mask: only its transparent part (the background) is repainted.',
      reference(portrait, 'ref'),
      reference(mask, 'mask'),
      picture(portraitSky, 'portrait-sky', `result · ${portraitSky.width}×${portraitSky.height}`),
    ),
    section('avatar', 'n: 3 — three images of one recipe.', ...avatar.images.map((image, index) => picture(image, 'avatar', `image ${index + 1}`))),
    section(
      'product',
      'each: one job per file in refs/products.',
      ...product.images.map((image) => picture(image, 'product', image.job.replace('product/', ''))),
    ),
  )

// Apps that keep image URLs in their own state can listen for swaps; <img> elements are updated for them.
window.addEventListener('images-edit:update', (event) => {
  console.info(`[images-edit] ${event.detail.recipe} updated`, event.detail.image)
})
