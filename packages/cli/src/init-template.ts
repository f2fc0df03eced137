/** The starter manifest written by `images-edit init`. */
export const STARTER_MANIFEST = `# yaml-language-server: $schema=./node_modules/@images-edit/core/schema.json
# images-edit recipes. Docs: https://github.com/images-edit/images-edit#manifest-reference
version: 1
out: generated                  # output folder, relative to this file

vars:                           # reusable text: {vars.style}
  style: soft studio light, 35mm film grain

defaults:                       # every recipe inherits these
  provider: local               # local (offline placeholders) | toapis | aa | openai
  ratio: "1:1"                  # auto, 1:1, 3:2, 2:3, 4:3, 3:4, 5:4, 4:5, 16:9, 9:16, 2:1, 1:2, 21:9, 9:21
  resolution: 1k                # 1k | 2k | 4k
  format: png                   # png | jpeg | webp
  n: 1                          # images per recipe, 1..10

recipes:
  # Put a reference image at refs/example.png, then: npx images-edit build
  example:
    prompt: Turn this photo into a watercolor illustration, {vars.style}
    refs: [refs/example.png]
`

/** Lines `init` adds to .gitignore. */
export const GITIGNORE_LINES = ['# images-edit store (results cache, stat cache, journal)', '.images-edit/']
