// `npm run serve`: bundles scripts/serve.ts for plain Node (Node 20 runs no TypeScript) and runs it.
import { mkdirSync } from 'node:fs'
import { build } from 'esbuild'

const out = 'node_modules/.cache/run-relay/serve.mjs'
mkdirSync('node_modules/.cache/run-relay', { recursive: true })
await build({ entryPoints: ['scripts/serve.ts'], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile: out, logLevel: 'error' })
await import(new URL(`../${out}`, import.meta.url).href)
