import { commands } from 'vitest/browser'
import { afterAll, expect, it } from 'vitest'
import { waitFor } from './helpers.ts'

afterAll(() => commands.closePackedConsumer())

it('packs clean (publint, arethetypeswrong), type-checks a TypeScript consumer, and works bundled by Vite and by webpack; stays within its size budget', async () => {
  const consumer = await commands.servePackedConsumer()
  for (const [file, size] of Object.entries(consumer.gzipSizes)) expect(size, `${file} gzip bytes`).toBeLessThanOrEqual(consumer.budget[file]!)
  expect(consumer.publint, 'publint').toEqual([])
  expect(consumer.attw, 'arethetypeswrong').toEqual([])
  expect(consumer.typecheck.bundler, 'a TypeScript consumer, moduleResolution bundler').toBe('')
  expect(consumer.typecheck.node16, 'a TypeScript consumer, moduleResolution node16').toBe('')
  // The published files as bundlers read them: `'use client'` first in react.js (Next.js) and in no
  // other entry (Vite and Rollup warn about a module directive in every app that imports one), and
  // the worker as a literal `new URL('./assets/…', import.meta.url)` passed to `new SharedWorker(`
  // (not `"" + import.meta.url`, which Next made a file: URL).
  const directive = /^['"]use client['"]/
  expect(Object.entries(consumer.published.firstLines).filter(([, line]) => directive.test(line)).map(([file]) => file)).toEqual(['react.js'])
  const literal = consumer.published.workerConstruction.filter((call) => /^new SharedWorker\(new URL\("\.\/assets\/shared-worker-[\w-]+\.js", import\.meta\.url\s*\)/.test(call))
  expect(literal, consumer.published.workerConstruction.join('\n')).toHaveLength(2)
  // The published worker file bundles the hub and what the page and the hub share (common/), and no
  // module of the page (src/): its source map lists every module in it, relative to the file.
  const bundled = consumer.published.workerSources.map((source) => source.replace(/^(\.\.\/)+/, ''))
  expect(bundled, 'the worker file bundles the hub').toContain('worker/shared-worker.ts')
  expect(bundled.filter((source) => source.startsWith('common/')), 'the worker file bundles common/').not.toEqual([])
  expect(bundled.filter((source) => !/^(worker|common|protocol|node_modules)\//.test(source)), 'modules of the worker file outside worker/, common/, protocol/ and npm packages').toEqual([])
  for (const [bundler, url] of [['vite', consumer.url], ['webpack', consumer.webpackUrl], ['webpack-public-path', consumer.webpackPublicPathUrl]] as const) await streamsIn(bundler, url)
}, 180_000)

/** Streams a run in the consumer app built by `bundler`: the worker file resolved and ran there. */
async function streamsIn(bundler: string, url: string): Promise<void> {
  const tab = await commands.openTab(url)
  await waitFor(() => commands.evalInTab<boolean>(tab, 'typeof window.createRunRelay === "function"'), { what: `the ${bundler} build to load` })
  const streamId = await commands.evalInTab<string>(tab, `(async () => {
    const relay = createRunRelay({ name: 'consumer-' + Math.random() })
    const start = await fetch('/api/chat/start', { method: 'POST', body: JSON.stringify({ session_id: 'c-${bundler}', message: 'packed', tokens: 20, rate: 200 }) })
    const { stream_id } = await start.json()
    await relay.open({ runId: stream_id, sessionId: 'c-${bundler}', url: '/api/chat/stream?stream_id=' + stream_id, preset: 'reference' })
    window.seen = { received: [], ended: false }
    relay.subscribe({ runId: stream_id }, {
      onEvents: (events) => window.seen.received.push(...events.map((e) => e.type + ' ' + e.data)),
      onStatus: (status) => (window.seen.ended = status === 'ended'),
    })
    return stream_id
  })()`)
  await waitFor(() => commands.evalInTab<boolean>(tab, 'window.seen.ended'), { what: `the run to end in the ${bundler} consumer app` })
  const result = await commands.evalInTab<{ received: string[]; sent: string[]; opened: number }>(tab, `(async () => {
    const transcript = await (await fetch('/api/chat/transcript?stream_id=${streamId}')).json()
    const stats = await (await fetch('/api/chat/stats?stream_id=${streamId}')).json()
    return { received: window.seen.received, sent: transcript.events.map((e) => e.event + ' ' + e.data), opened: stats.streams['${streamId}'].opened }
  })()`)
  expect(result.sent.length).toBeGreaterThan(20)
  expect(result.received).toEqual(result.sent)
  expect(result.opened).toBe(1)
  expect(await commands.evalInTab<string>(tab, `(async () => (await createRunRelay({ name: 'mode-' + Math.random() })).mode)()`), `${bundler}: a real SharedWorker`).toBe('shared-worker')
  await commands.closeTab(tab)
}
