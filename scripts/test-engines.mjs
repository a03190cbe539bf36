// `npm test`: the browser suite in each engine of $ENGINES (default chromium,firefox), each in its
// own vitest run writing its own report (reports/<engine>.json). Arguments go to each vitest run
// (`npm test -- test/backoff.test.ts`). Exits non-zero if any engine's run failed.
//
// By default the engines run one after the other, so that one engine's tabs never compete with
// another's for the CPU. ENGINES_AT_ONCE=1 (what CI sets) runs the engines beside each other: each
// browser has its own connections per origin, and a suite mostly waits on paced runs (about a third
// of one core each, measured), so two engines take the time of the slower one. Each engine's output
// then goes to reports/<engine>.log and is printed whole when that engine is done, not interleaved.
import { spawn } from 'node:child_process'
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs'

const engines = (process.env.ENGINES || 'chromium,firefox').split(',').map((e) => e.trim()).filter(Boolean)
const atOnce = process.env.ENGINES_AT_ONCE === '1' && engines.length > 1
const args = process.argv.slice(2)
// Files that must run with no other file of their engine beside them. The browser's 6 connections
// per origin are shared by every test file running at once, so a file whose claim is "the page's
// requests stay fast while the hub holds connections" fails whenever a neighbour file holds long
// connections too (seen: test/budget.test.ts beside the feed-budget tests, then beside the feed
// tests now in test/feed-budget.test.ts, stalled the page's requests for 6 s).
// test/worker-load.test.ts claims a worker script's 404 is told in under 2 s: with the origin's
// sockets taken by neighbours, the script's fetch waits for one (seen once in CI: 10 s).
const ALONE = ['test/budget.test.ts', 'test/worker-load.test.ts']
const runs = args.length > 0
  ? [{ args, report: '' }]
  : [{ args: ALONE.flatMap((file) => ['--exclude', file]), report: '' }, ...ALONE.map((file, i) => ({ args: [file], report: `.alone${i + 1}` }))]

/** Runs one vitest command to its end; resolves with its exit status. */
function vitest(engine, run, out) {
  const command = engine === 'webkit' ? ['bash', ['scripts/run-webkit.sh', ...run.args]] : ['node_modules/.bin/vitest', ['run', ...run.args]]
  const report = `${process.env.REPORT_NAME ?? engine}${run.report}`
  const started = Date.now()
  const child = spawn(command[0], command[1], { stdio: out ? ['ignore', 'pipe', 'pipe'] : 'inherit', env: { ...process.env, ENGINES: engine, REPORT_NAME: report } })
  if (out) {
    child.stdout.pipe(out, { end: false })
    child.stderr.pipe(out, { end: false })
  }
  return new Promise((resolve) => child.on('close', (status) => {
    const line = `[${report}] vitest exited ${status} after ${Math.round((Date.now() - started) / 1000)} s\n`
    if (out) out.write(line)
    else process.stdout.write(line)
    resolve(status)
  }))
}

/** Every run of one engine, one after the other; the number that failed. */
async function engineRuns(engine, out) {
  let failed = 0
  for (const run of runs) if ((await vitest(engine, run, out)) !== 0) failed++
  return failed
}

let failed = 0
if (atOnce) {
  mkdirSync('reports', { recursive: true })
  failed = (await Promise.all(engines.map(async (engine) => {
    const path = `reports/${process.env.REPORT_NAME ?? engine}.log`
    const out = createWriteStream(path)
    const count = await engineRuns(engine, out)
    await new Promise((resolve) => out.end(resolve))
    process.stdout.write(`\n===== ${engine} =====\n${readFileSync(path, 'utf8')}`)
    return count
  }))).reduce((a, b) => a + b, 0)
} else {
  for (const engine of engines) failed += await engineRuns(engine)
}
process.exit(failed === 0 ? 0 : 1)
