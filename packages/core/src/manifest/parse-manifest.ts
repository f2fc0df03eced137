import { LineCounter, parseDocument } from 'yaml'
import type { Diagnostic } from '../diagnostics.js'
import { ManifestSource } from './source.js'

/** Largest manifest accepted. A recipe file beyond this is a mistake, not a manifest. */
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024

/** Layer 1: YAML syntax. Returns the document (even when it has errors, for locating) and the plain value. */
export function parseManifestText(file: string, raw: string | Uint8Array): { source: ManifestSource; value: unknown; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = []
  const lineCounter = new LineCounter()
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw)

  const encodingProblem = detectEncodingProblem(bytes)
  if (encodingProblem || bytes.length > MAX_MANIFEST_BYTES) {
    const source = new ManifestSource(file, '', undefined, lineCounter)
    diagnostics.push(
      source.at(
        'error',
        encodingProblem ? 'yaml/encoding' : 'yaml/too-large',
        0,
        1,
        encodingProblem ?? `the manifest is ${bytes.length} bytes; the limit is ${MAX_MANIFEST_BYTES}`,
        encodingProblem ? 'Save the file as UTF-8.' : 'Split the recipes or move long text out of the manifest.',
      ),
    )
    return { source, value: undefined, diagnostics }
  }

  let text = bytes.toString('utf8')
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  const document = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
    strict: true,
  })
  const source = new ManifestSource(file, text, document, lineCounter)
  for (const error of document.errors) {
    const [start, end] = error.pos
    diagnostics.push(source.at('error', `yaml/${error.code.toLowerCase()}`, start, end - start, error.message, yamlHint(error.code)))
  }
  for (const warning of document.warnings) {
    const [start, end] = warning.pos
    diagnostics.push(source.at('warning', `yaml/${warning.code.toLowerCase()}`, start, end - start, warning.message))
  }
  if (document.errors.length > 0) return { source, value: undefined, diagnostics }

  let value: unknown
  try {
    // Alias bombs ("billion laughs") are refused by yaml itself past this many alias expansions.
    value = document.toJS({ maxAliasCount: 100 })
  } catch (error) {
    diagnostics.push(source.at('error', 'yaml/aliases', 0, 1, (error as Error).message, 'Use fewer or smaller YAML aliases (&anchor / *alias).'))
    return { source, value: undefined, diagnostics }
  }
  return { source, value, diagnostics }
}

function detectEncodingProblem(bytes: Buffer): string | undefined {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    return 'the manifest is UTF-16; images-edit reads UTF-8 only'
  }
  if (bytes.includes(0)) return 'the manifest contains NUL bytes; is it a binary file?'
  // Invalid UTF-8 becomes U+FFFD when decoded; re-encoding then changes the bytes.
  if (!Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes)) return 'the manifest is not valid UTF-8'
  return undefined
}

function yamlHint(code: string): string {
  switch (code) {
    case 'DUPLICATE_KEY':
      return 'Each key may appear once per map; remove or rename the duplicate.'
    case 'TAB_AS_INDENT':
      return 'Indent with spaces, not tabs.'
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
    case 'UNEXPECTED_TOKEN':
      return 'Check the indentation and quoting on this line; quote values that contain ": " or start with "{", "[", "*", "&".'
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY':
      return 'A key must fit on one line; check for a missing ":" or an unclosed quote above.'
    default:
      return 'Fix the YAML syntax here; a YAML linter or your editor can show the exact token.'
  }
}
