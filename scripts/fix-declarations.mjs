// tsc keeps the `.ts` extensions of relative imports in .d.ts files; consumers resolve `.js`.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const dir = 'dist/types'
for (const file of readdirSync(dir).filter((name) => name.endsWith('.d.ts'))) {
  const path = join(dir, file)
  writeFileSync(path, readFileSync(path, 'utf8').replace(/(from\s+'\.{1,2}\/[^']+)\.ts'/g, "$1.js'"))
}
