// Layer 1 of a manifest: its bytes and YAML syntax checked, and its plain value.
import type { Document } from 'yaml'
import type { Diagnostic } from '../diagnostics.js'
import { LineIndex, ManifestSource } from './source.js'
import { yaml } from './yaml-module.js'

/** Largest manifest accepted. A recipe file beyond this is a mistake, not a manifest. */
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024

/** What layer 1 gives: the source for locating, the plain value (undefined when unusable) and its problems. */
type ParsedText = { source: ManifestSource; value: unknown; diagnostics: Diagnostic[] }

/** Layer 1: YAML syntax. Returns the document (even when it has errors, for locating) and the plain value. */
export function parseManifestText(file: string, raw: string | Uint8Array): ParsedText {
  const diagnostics: Diagnostic[] = []
  const bytes = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw)

  const encodingProblem = bytes.length > MAX_MANIFEST_BYTES ? undefined : detectEncodingProblem(bytes)
  if (encodingProblem || bytes.length > MAX_MANIFEST_BYTES) return refusedBytes(file, bytes, encodingProblem)

  let text = bytes.toString('utf8')
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  // Lines are counted from the text, not by the parser: after a syntax error yaml's own line
  // counter can miss newlines (e.g. inside a block scalar), shifting every later position.
  const lineCounter = lineCounterOf(text)
  const nesting = nestingProblem(text)
  if (nesting) {
    // Checked before parsing: thousands of nested brackets make the YAML parser crawl, and can
    // exhaust its regular-expression memory outright.
    const source = new ManifestSource(file, text, undefined, lineCounter)
    diagnostics.push(
      source.at('error', 'yaml/too-deep', nesting.offset, 1, nesting.message, 'Flatten the structure: a manifest needs a few levels, not hundreds.'),
    )
    return { source, value: undefined, diagnostics }
  }
  const document = parseYaml(text)
  const source = new ManifestSource(file, text, document, lineCounter)
  diagnostics.push(...syntaxDiagnostics(document, text, source))
  // A syntax error leaves no value to check further. A repeated or collection key does not: the
  // value is still well defined, so the schema and the rules report everything else as well.
  if (document.errors.length > 0) return { source, value: undefined, diagnostics }
  for (const key of collectionKeys(document)) {
    diagnostics.push(
      source.at(
        'error',
        'yaml/collection-key',
        key.start,
        key.end - key.start,
        `a ${key.kind} is used as a key; manifest keys are plain names`,
        'Write the key as a plain name followed by ":" (e.g. `refs: [a.png]`), without the "?" of a complex key.',
      ),
    )
  }

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

/** A manifest refused before parsing: not UTF-8 (located at the first bad byte), or too large. */
function refusedBytes(file: string, bytes: Buffer, encodingProblem: { message: string; offset: number } | undefined): ParsedText {
  // Locate the first bad byte: the text before it is valid UTF-8, so its offset is exact.
  const text = encodingProblem && encodingProblem.offset > 0 ? bytes.toString('utf8') : ''
  const lineCounter = lineCounterOf(text)
  const offset = encodingProblem && text ? bytes.subarray(0, encodingProblem.offset).toString('utf8').length : 0
  const source = new ManifestSource(file, text, undefined, lineCounter)
  const diagnostic = source.at(
    'error',
    encodingProblem ? 'yaml/encoding' : 'yaml/too-large',
    offset,
    1,
    encodingProblem?.message ?? `the manifest is larger than ${MAX_MANIFEST_BYTES} bytes (8 MiB), the most images-edit reads`,
    encodingProblem ? 'Save the file as UTF-8.' : 'Split the recipes or move long text out of the manifest.',
  )
  return { source, value: undefined, diagnostics: [diagnostic] }
}

/** The parser's findings, located: repeated keys, then its errors, then its warnings. */
function syntaxDiagnostics(document: Document.Parsed, text: string, source: ManifestSource): Diagnostic[] {
  const diagnostics: Diagnostic[] = []
  for (const duplicate of duplicateKeys(document)) {
    diagnostics.push(
      source.at('error', 'yaml/duplicate_key', duplicate.start, duplicate.end - duplicate.start, 'Map keys must be unique', yamlHint('DUPLICATE_KEY')),
    )
  }
  for (const error of document.errors) {
    const [start, end] = errorSpan(document, text, error.code, error.message, error.pos)
    diagnostics.push(source.at('error', `yaml/${error.code.toLowerCase()}`, start, end - start, error.message, yamlHint(error.code)))
  }
  for (const warning of document.warnings) {
    const [start, end] = warning.pos
    diagnostics.push(source.at('warning', `yaml/${warning.code.toLowerCase()}`, start, end - start, warning.message, yamlHint(warning.code)))
  }
  return diagnostics
}

function parseYaml(text: string): Document.Parsed {
  // uniqueKeys off: yaml compares every key with every other (quadratic in a map's size); the
  // same check is done below with a set.
  // logLevel error: yaml would print its warnings (e.g. a collection used as a key) to the
  // terminal through process.emitWarning; they are diagnostics instead.
  return yaml().parseDocument(text, { prettyErrors: false, uniqueKeys: false, strict: true, logLevel: 'error' })
}

/** Deepest nesting a manifest may have (flow brackets, or block indentation in steps of two). */
const MAX_DEPTH = 64

function nestingProblem(text: string): { offset: number; message: string } | undefined {
  let depth = 0
  let quote: string | undefined
  let previous = '\n'
  for (let offset = 0; offset < text.length; offset++) {
    const char = text[offset] as string
    if (quote) {
      if (char === quote) quote = undefined
      else if (char === '\\' && quote === '"') offset++
      if (char === '\n' && quote === "'") quote = undefined
      previous = char
      continue
    }
    // A quote opens a quoted scalar only where a value starts, not inside "don't".
    if ((char === '"' || char === "'") && /[\s:,[{-]/.test(previous)) quote = char
    else if (char === '#' && /\s/.test(previous)) {
      const end = text.indexOf('\n', offset)
      offset = end < 0 ? text.length : end - 1
    } else if (char === '[' || char === '{') {
      depth++
      if (depth > MAX_DEPTH) return { offset, message: `the manifest nests more than ${MAX_DEPTH} levels deep` }
    } else if (char === ']' || char === '}') depth = Math.max(0, depth - 1)
    else if (char === '\n') {
      let indent = 0
      while (text[offset + 1 + indent] === ' ') indent++
      if (indent > MAX_DEPTH * 4) return { offset: offset + 1, message: `a line is indented ${indent} spaces; the manifest nests too deep` }
    }
    previous = char
  }
  return undefined
}

/** Every repeated key of a map, in one pass per map (for the located DUPLICATE_KEY error). */
function duplicateKeys(document: Document.Parsed): { start: number; end: number }[] {
  const found: { start: number; end: number }[] = []
  yaml().visit(document, {
    Map(_, map) {
      const seen = new Set<string>()
      for (const pair of map.items) {
        if (!yaml().isScalar(pair.key)) continue
        const key = String(pair.key.value)
        if (seen.has(key) && pair.key.range) found.push({ start: pair.key.range[0], end: pair.key.range[1] })
        seen.add(key)
      }
    },
  })
  return found
}

/**
 * Every key that is a map or a list (`? [a, b]` or `? {refs: [x]}`, also a pair inside a flow
 * list), located at the key. The pairs are removed from the document: JavaScript objects cannot
 * have such keys (yaml would turn them into text, and they would be reported as unknown fields at
 * the parent map).
 */
function collectionKeys(document: Document.Parsed): { start: number; end: number; kind: string }[] {
  const found: { start: number; end: number; kind: string }[] = []
  const lib = yaml()
  lib.visit(document, {
    Pair(_, pair) {
      const key = lib.isAlias(pair.key) ? pair.key.resolve(document) : pair.key
      if (!lib.isCollection(key)) return undefined
      const range = (pair.key as { range?: [number, number, number] } | null)?.range
      if (range) found.push({ start: range[0], end: range[1], kind: lib.isSeq(key) ? 'list' : 'map' })
      return lib.visit.REMOVE
    },
  })
  return found
}

/**
 * A source for a manifest whose value came from the parse cache: the YAML document is built only
 * if a diagnostic has to be located in it.
 */
export function lazyManifestSource(file: string, raw: Uint8Array): ManifestSource {
  let text = Buffer.from(raw).toString('utf8')
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
  return new ManifestSource(file, text, () => parseYaml(text), lineCounterOf(text))
}

/** Line starts of `text`, breaking lines where {@link ManifestSource} does (\r\n, \n, \r). */
function lineCounterOf(text: string): LineIndex {
  return new LineIndex(text)
}

/** What is wrong with the bytes, and the byte offset where it starts. */
function detectEncodingProblem(bytes: Buffer): { message: string; offset: number } | undefined {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    return { message: 'the manifest is UTF-16; images-edit reads UTF-8 only', offset: 0 }
  }
  const nul = bytes.indexOf(0)
  if (nul >= 0) return { message: 'the manifest contains NUL bytes; is it a binary file?', offset: nul }
  // Invalid UTF-8 becomes U+FFFD when decoded; re-encoding then changes the bytes.
  if (!Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes)) {
    const offset = firstInvalidUtf8(bytes)
    return { message: `the manifest is not valid UTF-8 (byte 0x${(bytes[offset] ?? 0).toString(16).toUpperCase().padStart(2, '0')})`, offset }
  }
  return undefined
}

/** Byte offset of the first sequence that is not well-formed UTF-8. */
function firstInvalidUtf8(bytes: Buffer): number {
  const decoder = new TextDecoder('utf-8', { fatal: true })
  let index = 0
  while (index < bytes.length) {
    const byte = bytes[index] ?? 0
    const length = byte < 0x80 ? 1 : byte >= 0xc2 && byte <= 0xdf ? 2 : byte >= 0xe0 && byte <= 0xef ? 3 : byte >= 0xf0 && byte <= 0xf4 ? 4 : 0
    if (length === 0 || index + length > bytes.length) return index
    try {
      decoder.decode(bytes.subarray(index, index + length))
    } catch {
      return index
    }
    index += length
  }
  return index
}

/**
 * Where a YAML error is shown. An unclosed quote or bracket is reported by yaml where the file
 * ends; point at where it opens instead. A bad indent is shown at the item, not the line start.
 */
function errorSpan(document: Document.Parsed, text: string, code: string, message: string, [start, end]: [number, number]): [number, number] {
  const unclosedQuote = code === 'MISSING_CHAR' && /quote/i.test(message)
  const unclosedFlow = /^Flow (sequence|mapping)|end with a [\]}]/i.test(message)
  if (unclosedQuote || unclosedFlow) {
    let opener: [number, number] | undefined
    yaml().visit(document, {
      Node(_, node) {
        const quoted = unclosedQuote && yaml().isScalar(node) && (node.type === 'QUOTE_DOUBLE' || node.type === 'QUOTE_SINGLE')
        const flow = unclosedFlow && yaml().isCollection(node) && node.flow === true
        if ((quoted || flow) && node.range && node.range[1] === start && !opener) opener = [node.range[0], node.range[0] + 1]
      },
    })
    if (opener) return opener
  }
  if (code === 'BAD_INDENT') {
    const lineStart = text.lastIndexOf('\n', start - 1) + 1
    const indent = /^[ ]*/.exec(text.slice(lineStart))?.[0].length ?? 0
    if (start < lineStart + indent) return [lineStart + indent, lineStart + indent + 1]
  }
  return [start, end]
}

function yamlHint(code: string): string {
  switch (code) {
    case 'DUPLICATE_KEY':
      return 'Each key may appear once per map; remove or rename the duplicate.'
    case 'TAB_AS_INDENT':
      return 'Indent with spaces, not tabs.'
    case 'TAG_RESOLVE_FAILED':
    case 'BAD_COLLECTION_TYPE':
      return 'Remove the `!tag`: a manifest uses plain YAML values (quote a value that starts with "!").'
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
    case 'UNEXPECTED_TOKEN':
      return 'Check the indentation and quoting on this line; quote values that contain ": " or start with "{", "[", "*", "&".'
    case 'BLOCK_AS_IMPLICIT_KEY':
    case 'MULTILINE_IMPLICIT_KEY':
      return 'Quote a value that contains ": " (e.g. prompt: "Make it: red"); otherwise check for a missing ":" or an unclosed quote above.'
    default:
      return 'Fix the YAML syntax here; a YAML linter or your editor can show the exact token.'
  }
}
