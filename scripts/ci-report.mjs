// Sums the vitest JSON reports in reports/ (one per test command or engine) and prints one
// `N passed, N failed` line per report, then the total last. A report that a command should
// have written but did not counts as a failure, so a crashed run is never read as green.
import { existsSync, readdirSync, readFileSync } from 'node:fs'

const expected = process.argv.slice(2) // report names that must exist, e.g. chromium firefox
const dir = 'reports'
const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : []
// One line per report group: `chromium.json` and `chromium.alone1.json`, ... (files run on their own) are one engine.
const groups = new Map()
for (const file of files) {
  const name = file.slice(0, file.indexOf('.'))
  groups.set(name, [...(groups.get(name) ?? []), file])
}
let passed = 0
let failed = 0
for (const name of expected) {
  if (!groups.has(name)) {
    console.log(`${name}: 0 passed, 1 failed (no test report)`)
    failed += 1
  }
}
for (const [name, group] of groups) {
  let p = 0
  let f = 0
  for (const file of group) {
    const report = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8'))
    // A file that failed to load (syntax error, crashed worker) has no test results but counts as failed.
    const broken = (report.testResults ?? []).filter((r) => r.status === 'failed' && (r.assertionResults ?? []).length === 0).length
    p += report.numPassedTests ?? 0
    f += (report.numFailedTests ?? 0) + broken
  }
  console.log(`${name}: ${p} passed, ${f} failed`)
  passed += p
  failed += f
}
if (files.length === 0 && expected.length === 0) failed += 1
console.log(`${passed} passed, ${failed} failed`)
