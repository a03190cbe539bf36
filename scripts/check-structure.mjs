// `npm run typecheck`'s structure check, with madge: no import cycle in src/, worker/, server/ or
// protocol/; the worker reads only the neutral page modules (no page code in its bundle); the
// server half imports nothing of the page or the worker (protocol/, the reference protocol's
// shared facts, is for all three); protocol/ imports nothing. Exits 1 with what broke.
import madge from 'madge'

const problems = []
const graph = await madge(['src', 'worker', 'server', 'protocol'], { fileExtensions: ['ts'], detectiveOptions: { ts: { skipTypeImports: true } } })
for (const cycle of graph.circular()) problems.push(`import cycle: ${cycle.join(' -> ')}`)

/** The page modules the worker may load at run time (its types come from model.ts and hub-wire.ts, `import type`). */
const NEUTRAL = new Set(['src/protocol-version.ts', 'src/run-status.ts', 'src/tab-lock.ts', 'src/hub-ends.ts', 'src/model.ts', 'src/hub-wire.ts'])
for (const [file, imports] of Object.entries(graph.obj())) {
  for (const target of imports) {
    if (file.startsWith('worker/') && target.startsWith('src/') && !NEUTRAL.has(target)) problems.push(`${file} loads the page module ${target} into the worker`)
    if (file.startsWith('server/') && !target.startsWith('server/') && !target.startsWith('protocol/')) problems.push(`${file} (run-relay/server) imports ${target}`)
    if (file.startsWith('protocol/')) problems.push(`${file} (shared by the page, the worker and the servers) imports ${target}`)
  }
}
if (problems.length > 0) {
  console.error(`Structure check failed:\n${problems.map((problem) => `- ${problem}`).join('\n')}`)
  process.exit(1)
}
console.log(`Structure: ${Object.keys(graph.obj()).length} files, no cycle; the worker loads only neutral page modules; the server half stands alone; protocol/ imports nothing.`)
