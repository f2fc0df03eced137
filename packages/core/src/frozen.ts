/**
 * Frozen mode — "nothing may be generated, only restored" — is decided here and nowhere else. Every
 * way a build can start (the CLI's build and watch, `vite build`, `vite dev`, a framework's own Vite
 * servers, a dev session) passes only what the user said explicitly (`--frozen`, `--no-frozen`,
 * `imagesEdit({ frozen })`) and lets {@link Project.build} apply {@link resolveFrozen}, so CI cannot
 * be paid for through an adapter that forgot the rule.
 */

/** Whether the environment is CI: `CI` set to anything but empty, `0` or `false`. */
export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false'
}

/** The one frozen rule: what the user said explicitly, else frozen exactly when running in CI. */
export function resolveFrozen(explicit: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return explicit ?? isCI(env)
}
