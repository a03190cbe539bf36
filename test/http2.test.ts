import { describe, expect, it } from 'vitest'
import type { RunSpec } from '../src/index.ts'
import { recorder, uniqueName, useRelays, waitFor } from './helpers.ts'

/**
 * The connection budget over a real HTTP/2 server (test-node/http2-plugin.ts: node:http2 over TLS,
 * another origin): HTTP/2 carries many streams on one connection, so the browser's 6 per origin do
 * not apply, and the hub's `http2` budget (64) does.
 */
const relay = useRelays('h2')

async function h2Origin(): Promise<string> {
  return ((await (await fetch('/h2/origin')).json()) as { origin: string }).origin
}
const serverLog = async (key: string) => (await (await fetch(`/h2/log?key=${key}`)).json()) as { opened: number; maxOpen: number }

/** Opens 12 runs of `tokens` at 15/s on the HTTP/2 origin, follows each to its end, and checks each is whole. */
async function twelveRuns(settings: { http2Origins?: string[] }, tokens: number) {
  const origin = await h2Origin()
  const key = uniqueName('h2')
  const hub = relay({ hub: { allowedOrigins: [origin], ...settings } })
  const specs: RunSpec[] = Array.from({ length: 12 }, (_, i) => ({
    runId: `${key}-${i}`, sessionId: key, preset: 'reference',
    url: `${origin}/sse?key=${key}&run=${key}-${i}&tokens=${tokens}&rate=15`,
  }))
  const seen = specs.map(() => recorder())
  for (const [i, spec] of specs.entries()) {
    await hub.open(spec)
    hub.subscribe({ runId: spec.runId }, seen[i]!.handlers)
  }
  await waitFor(() => seen.every((s) => s.finished), { timeoutMs: 30_000, what: 'all 12 runs to end' })
  for (const [i, s] of seen.entries()) {
    expect(s.errors).toEqual([])
    expect(s.events.map((event) => event.id)).toEqual([...Array.from({ length: tokens }, (_, n) => `${key}-${i}:${n + 1}`), `${key}-${i}:${tokens + 1}`])
  }
  return { hub, key, origin }
}

describe('HTTP/2', () => {
  it('an origin declared HTTP/2: 12 runs from a cold hub stream at once, over the http2 budget', async () => {
    const origin = await h2Origin()
    const { hub, key } = await twelveRuns({ http2Origins: [origin] }, 30)
    expect((await serverLog(key)).maxOpen).toBe(12)
    expect((await hub.diagnostics()).budget).toMatchObject({ protocol: 'http2', limit: 64 })
  })

  it('learnt as streams end: once the first wave over the HTTP/1.1 budget ends, the rest run at once', async () => {
    const { hub, key } = await twelveRuns({}, 15)
    const log = await serverLog(key)
    expect(log.opened).toBe(12)
    // The first 4 under the HTTP/1.1 budget; when one ends, Resource Timing shows h2 and the other 8 start together.
    expect(log.maxOpen).toBeGreaterThanOrEqual(8)
    expect((await hub.diagnostics()).budget.protocol).toBe('http2')
  })
})
