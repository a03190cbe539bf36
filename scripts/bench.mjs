// `npm run bench`: serves the project with Vite (dev chat server included), opens
// bench/bench.html in headless Chromium and prints the medians it measured.
import { existsSync } from 'node:fs'
import { chromium } from 'playwright'
import { createServer } from 'vite'

const server = await createServer({ server: { port: 0, host: '127.0.0.1' }, logLevel: 'error' })
await server.listen()
const { port } = server.httpServer.address()
const executablePath = [process.env.CHROMIUM_PATH, '/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => p && existsSync(p))
const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
})
try {
  const page = await browser.newPage()
  page.on('pageerror', (error) => console.error('page error:', error.message))
  await page.goto(`http://127.0.0.1:${port}/bench/bench.html`)
  await page.waitForFunction(() => globalThis.benchResults, null, { timeout: 300_000, polling: 500 })
  const results = await page.evaluate(() => globalThis.benchResults)
  console.log(`run-relay bench: ${20_000} tokens per run, median of 5, Chromium ${browser.version()}`)
  const table = {}
  for (const metric of Object.keys(results[0]).filter((key) => key !== 'mode')) {
    table[metric] = Object.fromEntries(results.map((row) => [row.mode, row[metric]]))
  }
  console.table(table)
  const [worker, inPage] = results
  console.log(`live throughput, SharedWorker / in-page: ${(worker['live 1 sub: events/s'] / inPage['live 1 sub: events/s']).toFixed(2)}`)
  console.log(`live time, 4 subscribers / 1 subscriber (SharedWorker): ${(worker['live 4 sub: ms'] / worker['live 1 sub: ms']).toFixed(2)}`)
} finally {
  await browser.close()
  await server.close()
}
