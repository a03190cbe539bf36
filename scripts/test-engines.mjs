// `npm test`: the browser suite in each engine of $ENGINES (default chromium,firefox), one after
// the other, each in its own vitest run writing its own report (reports/<engine>.json), so that
// one engine's tabs never compete with another's for the CPU. Arguments go to each vitest run
// (`npm test -- test/backoff.test.ts`). Exits non-zero if any engine's run failed.
//
// Within a run the files go one at a time (`browser.fileParallelism: false` in vite.config.ts).
// Both engines at once took 9 minutes instead of 16 here, but loaded this 2-core machine to 8-10,
// and a hub then took over 10 s to answer its first call: not worth a red run.
import { spawnSync } from 'node:child_process'

const engines = (process.env.ENGINES || 'chromium,firefox').split(',').map((e) => e.trim()).filter(Boolean)
const args = process.argv.slice(2)
let failed = 0
for (const engine of engines) {
  const started = Date.now()
  const command = engine === 'webkit' ? ['bash', ['scripts/run-webkit.sh', ...args]] : ['node_modules/.bin/vitest', ['run', ...args]]
  const report = process.env.REPORT_NAME ?? engine
  const { status } = spawnSync(command[0], command[1], { stdio: 'inherit', env: { ...process.env, ENGINES: engine, REPORT_NAME: report } })
  console.log(`[${report}] vitest exited ${status} after ${Math.round((Date.now() - started) / 1000)} s`)
  if (status !== 0) failed++
}
process.exit(failed === 0 ? 0 : 1)
