// `npm test`: the browser suite in each engine of $ENGINES (default chromium,firefox), one after
// the other, each in its own vitest run writing its own report (reports/<engine>.json), so that
// one engine's tabs never compete with another's for the CPU. Arguments go to each vitest run
// (`npm test -- test/backoff.test.ts`). Exits non-zero if any engine's run failed.
import { spawnSync } from 'node:child_process'

const engines = (process.env.ENGINES || 'chromium,firefox').split(',').map((e) => e.trim()).filter(Boolean)
const args = process.argv.slice(2)
// Files that must run with no other file beside them. The browser's 6 connections per origin are
// shared by every test file running at once, so a file whose claim is "the page's requests stay fast
// while the hub holds connections" fails whenever a neighbour file holds long connections too
// (seen: test/budget.test.ts beside the feed-budget tests, then beside the feed tests now in test/feed-budget.test.ts, stalled the page's requests for 6 s).
// test/worker-load.test.ts claims a worker script's 404 is told in under 2 s: with the origin's
// sockets taken by neighbours, the script's fetch waits for one (seen once in CI: 10 s).
const ALONE = ['test/budget.test.ts', 'test/worker-load.test.ts']
const runs = args.length > 0
  ? [{ args, report: '' }]
  : [{ args: ALONE.flatMap((file) => ['--exclude', file]), report: '' }, ...ALONE.map((file, i) => ({ args: [file], report: `.alone${i + 1}` }))]
let failed = 0
for (const engine of engines) {
  for (const run of runs) {
    const started = Date.now()
    const command = engine === 'webkit' ? ['bash', ['scripts/run-webkit.sh', ...run.args]] : ['node_modules/.bin/vitest', ['run', ...run.args]]
    const report = `${process.env.REPORT_NAME ?? engine}${run.report}`
    const { status } = spawnSync(command[0], command[1], { stdio: 'inherit', env: { ...process.env, ENGINES: engine, REPORT_NAME: report } })
    console.log(`[${report}] vitest exited ${status} after ${Math.round((Date.now() - started) / 1000)} s`)
    if (status !== 0) failed++
  }
}
process.exit(failed === 0 ? 0 : 1)
