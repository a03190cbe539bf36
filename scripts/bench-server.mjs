// `npm run bench`, the server half: bundles bench/server-bench.ts for plain Node (Node 20 runs no
// TypeScript) and runs it; it starts its own redis-server and needs Debian's `redis-server`.
import { mkdirSync } from 'node:fs'
import { build } from 'esbuild'

const out = 'node_modules/.cache/run-relay/server-bench.mjs'
mkdirSync('node_modules/.cache/run-relay', { recursive: true })
await build({ entryPoints: ['bench/server-bench.ts'], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile: out, logLevel: 'error' })
await import(new URL(`../${out}`, import.meta.url).href)
