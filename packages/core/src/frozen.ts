/**
 * Frozen mode — "nothing may be generated, only restored" — is decided here and nowhere else. Every
 * way a build can start (the CLI's build and watch, `vite build`, `vite dev`, a framework's own Vite
 * servers, a dev session) passes only what the user said explicitly (`--frozen`, `--no-frozen`,
 * `imagesEdit({ frozen })`) and lets {@link Project.build} apply {@link resolveFrozen}, so CI cannot
 * be paid for through an adapter that forgot the rule.
 */

/**
 * CI services that do not set `CI` themselves, by the variable each always sets: Jenkins, TeamCity,
 * Azure Pipelines, AWS CodeBuild. (GitHub Actions, GitLab, CircleCI, Buildkite, Travis, Bitbucket,
 * Vercel and Netlify set `CI`.)
 */
const CI_MARKERS = ['JENKINS_URL', 'TEAMCITY_VERSION', 'TF_BUILD', 'CODEBUILD_BUILD_ID'] as const

/**
 * Whether the environment is CI: `CI` set to anything but empty, `0` or `false`; or, where `CI` is
 * not set at all, one of the {@link CI_MARKERS} of services that do not set it.
 */
export function isCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI
  if (value !== undefined) return value !== '' && value !== '0' && value.toLowerCase() !== 'false'
  return CI_MARKERS.some((name) => Boolean(env[name]))
}

/**
 * The one frozen rule: what the user said explicitly, else frozen exactly when running in CI. CI is
 * read from the process's own environment as well as from an environment given for keys (the
 * plugin's `env` option, often only the keys): leaving `CI` out of that one never unfreezes CI.
 */
export function resolveFrozen(explicit: boolean | undefined, env: NodeJS.ProcessEnv = process.env): boolean {
  return explicit ?? (isCI(env) || isCI(process.env))
}
