// Preload (NODE_OPTIONS=--import): a host process that used Node's built-in fetch before images-edit
// ran, as Astro's build does. Node's bundled undici then owns the global dispatcher that it shares,
// through globalThis, with every other copy of undici in the process.
await fetch(process.env.HOST_FETCH_URL).then(
  (response) => response.arrayBuffer(),
  () => undefined,
)
