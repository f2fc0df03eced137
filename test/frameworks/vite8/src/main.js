import hero from 'images-edit:hero'

const img = document.getElementById('hero')
img.src = hero.src
img.width = hero.width
img.height = hero.height
window.marker = 'loaded once'
