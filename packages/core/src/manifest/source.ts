import type { Document, Node, Pair } from 'yaml'
import type { Diagnostic, Severity } from '../diagnostics.js'
import { yaml } from './yaml-module.js'

/** A path into the manifest document, e.g. `['recipes', 'hero', 'refs', 0]`. */
export type DocPath = readonly (string | number)[]

/** Where a diagnostic points: the value at a path (default) or the key naming it. */
export type Target = 'value' | 'key'

/**
 * The parsed manifest text with everything needed to turn a document path into
 * `file:line:col` and the offending source line.
 */
export class ManifestSource {
  readonly lines: string[]
  private parsed: Document.Parsed | undefined | (() => Document.Parsed | undefined)

  /**
   * @param document the parsed document, or a function that parses it on first use (a manifest
   *   served from the parse cache is only parsed again when a diagnostic must be located).
   */
  constructor(
    readonly file: string,
    readonly text: string,
    document: Document.Parsed | undefined | (() => Document.Parsed | undefined),
    readonly lineCounter: LineIndex,
  ) {
    this.lines = text.split(/\r\n|\n|\r/)
    this.parsed = document
  }

  /** The YAML document with node ranges. */
  get document(): Document.Parsed | undefined {
    if (typeof this.parsed === 'function') this.parsed = this.parsed()
    return this.parsed
  }

  /** Builds a located diagnostic for the node at `path` (or the closest existing ancestor). */
  diagnostic(
    severity: Severity,
    rule: string,
    path: DocPath,
    message: string,
    hint?: string,
    options: { target?: Target; substring?: string } = {},
  ): Diagnostic {
    const span = this.span(path, options.target ?? 'value', options.substring)
    return this.at(severity, rule, span.offset, span.length, message, hint)
  }

  /** Builds a diagnostic at a byte offset of the text. */
  at(severity: Severity, rule: string, offset: number, length: number, message: string, hint?: string): Diagnostic {
    const found = this.lineCounter.linePos(Math.min(offset, this.text.length))
    // A line counter that saw no text (line 0) still points at the start of the file: 1:1.
    const position = found.line > 0 ? found : { line: 1, col: 1 }
    const sourceLine = this.lines[position.line - 1]
    return {
      severity,
      rule,
      message,
      ...(hint ? { hint } : {}),
      file: this.file,
      line: position.line,
      column: position.col,
      ...(sourceLine !== undefined ? { sourceLine, length: Math.max(1, length) } : {}),
    }
  }

  /** Offset and length of the node at `path`, its key, or a substring inside it. */
  span(path: DocPath, target: Target, substring?: string): { offset: number; length: number } {
    const found = this.find(path)
    const node = target === 'key' && found.pair && yaml().isScalar(found.pair.key) ? found.pair.key : (found.node ?? found.pair?.key)
    const range = (node as Node | undefined)?.range
    if (!range) return { offset: 0, length: 1 }
    const [start, valueEnd] = range
    if (substring) {
      const inside = this.text.slice(start, valueEnd).indexOf(substring)
      if (inside >= 0) return { offset: start + inside, length: substring.length }
    }
    const firstLineEnd = this.text.indexOf('\n', start)
    const end = firstLineEnd >= 0 && firstLineEnd < valueEnd ? firstLineEnd : valueEnd
    return { offset: start, length: Math.max(1, end - start) }
  }

  /** The deepest node along `path`, and the map pair that holds it. */
  /** Each map's pairs by key, built once: locating thousands of diagnostics stays linear. */
  private readonly pairIndex = new WeakMap<object, Map<string, Pair>>()

  private pairsOf(map: { items: unknown[] }): Map<string, Pair> {
    let index = this.pairIndex.get(map)
    if (!index) {
      index = new Map()
      for (const item of map.items) {
        // A repeated key (reported on its own) holds the value the manifest gets: the last one.
        if (yaml().isPair(item) && yaml().isScalar(item.key)) index.set(String(item.key.value), item as Pair)
      }
      this.pairIndex.set(map, index)
    }
    return index
  }

  private find(path: DocPath): { node?: Node; pair?: Pair } {
    let current: unknown = this.document?.contents
    let pair: Pair | undefined
    let last: { node?: Node; pair?: Pair } = { node: current as Node | undefined }
    for (const segment of path) {
      if (yaml().isMap(current)) {
        const match = this.pairsOf(current).get(String(segment))
        if (!match) return last
        pair = match as Pair
        current = match.value
      } else if (yaml().isSeq(current) && typeof segment === 'number') {
        const item = current.items[segment]
        if (item === undefined) return last
        pair = undefined
        current = item
      } else {
        return last
      }
      last = current === null || current === undefined ? { ...(pair ? { pair } : {}) } : { node: current as Node, ...(pair ? { pair } : {}) }
    }
    return last
  }
}

/**
 * Line starts of a text, breaking lines at \r\n, \n and \r, with offset → 1-based line and
 * column. yaml's LineCounter does the same but is filled by its parser, which (a) can miss
 * newlines after a syntax error and (b) would load the YAML library just to locate a message.
 */
export class LineIndex {
  readonly lineStarts: number[] = [0]

  constructor(text: string) {
    for (const match of text.matchAll(/\r\n|\n|\r/g)) this.lineStarts.push(match.index + match[0].length)
  }

  linePos(offset: number): { line: number; col: number } {
    let low = 0
    let high = this.lineStarts.length - 1
    while (low < high) {
      const middle = (low + high + 1) >> 1
      if ((this.lineStarts[middle] as number) <= offset) low = middle
      else high = middle - 1
    }
    return { line: low + 1, col: offset - (this.lineStarts[low] as number) + 1 }
  }
}
