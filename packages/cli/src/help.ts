/** `images-edit --help` text. Keep in step with README.md "CLI reference". */
export const HELP = `images-edit — AI image edits as a reproducible build step

Usage
  images-edit <command> [options] [recipe…]

Commands
  init        write a commented starter images.edit.yaml and .gitignore lines
  validate    check the manifest (YAML, schema, providers, files); exit 0 or 2
  plan        show what a build would do, why each job is stale, and how many
              images would be paid for
  build       run the plan: restore cached results, generate the rest, write
              outputs and images.edit.lock
  watch       build, then rebuild exactly the jobs whose inputs change (manifest,
              refs, masks, new files in \`each\` folders) until Ctrl-C
  status      per recipe: up to date, stale (why), missing output, modified
  gc          delete store entries and outputs nothing references (--dry-run first)

Options
  -m, --manifest <path>   manifest to use (default: images.edit.yaml here or above)
      --json              one JSON event per line (build) or one JSON document
  -q, --quiet             only errors and the summary
  -v, --verbose           more detail (reasons for every job)
      --no-color          no colours (NO_COLOR is honoured too)
      --strict            treat manifest warnings as errors
  -h, --help              this help
      --version           print the version

Build options
      --provider <id>     run every recipe on this provider (e.g. local: offline, free)
      --concurrency <n>   jobs in flight at once (default: manifest, else 8)
      --force <recipe>    new take for this recipe (paid again), overwriting edited
                          outputs; repeat for several recipes
      --frozen            refuse to generate anything (default when CI is set)
      --no-frozen         allow generation even when CI is set
      --max-images <n>    refuse a run that would generate more than n new images
      --no-keep-going     stop at the first failed job (default: finish the others)
      --force-lock        rewrite images.edit.lock even though it was edited by hand

watch options
      --provider <id>     as for build (e.g. local: try edits offline)
      --frozen            refuse to generate; report what would be (default when CI is set)
      --no-frozen         allow generation even when CI is set
      --json              one JSON event per line (build events, job views, changes)
  An invalid manifest edit prints the error and keeps the last good one. Ctrl-C stops
  (exit 130) and names the jobs still in flight; their paid tasks stay journaled.

gc options
      --dry-run           list what would be deleted, delete nothing

Exit codes
  0 success · 1 some jobs failed · 2 invalid manifest or usage
  3 refused (frozen or over budget) · 130 interrupted (rerun to collect results)

Examples
  images-edit validate
  images-edit plan
  images-edit build --provider local
  images-edit build hero --force hero
  images-edit watch --provider local
  CI=true images-edit build          # frozen: fails (exit 3) if anything would be generated
`
