// `npm run typecheck`'s structure check, with madge: no import cycle in src/, worker/, common/,
// server/ or protocol/; each folder imports only what its side may load, types included:
// - worker/ (the hub) imports worker/, common/ and protocol/, never a page module of src/;
// - src/ (the page) imports src/, common/ and protocol/, and the hub only where the page runs it
//   (PAGE_LOADS_HUB);
// - common/ (what the page and the hub both load) imports common/ and protocol/;
// - server/ (run-relay/server) imports server/ and protocol/;
// - protocol/ (the reference protocol's shared facts) imports nothing.
// And no file name repeats across src/, worker/ and common/: a name says which side a file is on.
// Exits 1 with what broke.
import { readdirSync } from 'node:fs'
import madge from 'madge'

const FOLDERS = ['src', 'worker', 'common', 'server', 'protocol']
const problems = []
const options = { fileExtensions: ['ts'] }
// Cycles among run-time imports only: a type-only cycle costs nothing at run time.
const runtime = await madge(FOLDERS, { ...options, detectiveOptions: { ts: { skipTypeImports: true } } })
for (const cycle of runtime.circular()) problems.push(`import cycle: ${cycle.join(' -> ')}`)

/** The folders each folder may import from (npm packages aside). */
const MAY_IMPORT = {
  src: ['src', 'common', 'protocol'],
  worker: ['worker', 'common', 'protocol'],
  common: ['common', 'protocol'],
  server: ['server', 'protocol'],
  protocol: [],
}
/** The page's imports of the hub: `connectors.ts` runs the hub in the page (the in-page fallback), lazily. */
const PAGE_LOADS_HUB = new Set(['src/connectors.ts -> worker/hub.ts'])
const all = await madge(FOLDERS, options)
for (const [file, imports] of Object.entries(all.obj())) {
  const from = file.split('/')[0]
  for (const target of imports) {
    const to = target.split('/')[0]
    if (MAY_IMPORT[from]?.includes(to) || PAGE_LOADS_HUB.has(`${file} -> ${target}`)) continue
    problems.push(`${file} imports ${target}: ${from}/ may import only ${MAY_IMPORT[from]?.map((folder) => `${folder}/`).join(', ') || 'nothing'}`)
  }
}

/** The folders whose file names must not repeat: the page, the hub, and what both load. */
const SIDES = ['src', 'worker', 'common']
const foldersOf = new Map()
for (const folder of SIDES) {
  for (const name of readdirSync(folder)) if (name.endsWith('.ts')) foldersOf.set(name, [...(foldersOf.get(name) ?? []), folder])
}
for (const [name, folders] of foldersOf) if (folders.length > 1) problems.push(`${name} is in ${folders.map((folder) => `${folder}/`).join(' and ')}: give each a name that says its side`)

if (problems.length > 0) {
  console.error(`Structure check failed:\n${problems.map((problem) => `- ${problem}`).join('\n')}`)
  process.exit(1)
}
console.log(`Structure: ${Object.keys(all.obj()).length} files, no cycle; worker/, src/, common/, server/ and protocol/ import only what their side may load; no file name repeats across ${SIDES.map((folder) => `${folder}/`).join(', ')}.`)
