// tsc keeps the `.ts` extensions of relative imports in .d.ts files; consumers resolve `.js`.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

for (const entry of readdirSync('dist/types', { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue
  const path = join(entry.parentPath, entry.name)
  writeFileSync(path, readFileSync(path, 'utf8').replace(/((?:from\s+|import\()'\.{1,2}\/[^']+)\.ts'/g, "$1.js'"))
}
