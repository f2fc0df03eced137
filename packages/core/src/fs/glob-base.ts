/**
 * The folder part of a glob before its first wildcard: `refs/products/*.jpg` → `refs/products`,
 * `*.png` → `` (the folder the glob is relative to). One definition for the manifest's `each`
 * expansion and the folders a watcher looks in.
 */
export function globBase(pattern: string): string {
  const fixed: string[] = []
  for (const segment of pattern.split('/').slice(0, -1)) {
    if (/[*?[\]{}()!+@]/.test(segment)) break
    fixed.push(segment)
  }
  return fixed.join('/')
}
