import { describe, expect, it } from 'vitest'
import { hostileLog, hostileUrl, otherOrigin, recorder, uniqueName, useRelays, waitFor } from './helpers.ts'

/**
 * The origin allow-list holds on the default transport (issue 16, item 2): no event from an
 * origin outside it reaches a subscriber, not through a redirect, a chain of redirects, or a 307.
 * The other origin (localhost ↔ 127.0.0.1) answers CORS and would stream if asked.
 */
const relay = useRelays('allow-list')

const redirect = (to: string, status: number) => `/api/hostile/redirect?${new URLSearchParams({ to, status: String(status) })}`

describe('with default settings', () => {
  const cases: Array<[string, (target: string) => string]> = [
    ['a 302 to another origin', (target) => redirect(target, 302)],
    ['a chain 302 → 301 → another origin', (target) => redirect(redirect(target, 301), 302)],
    ['a 307 to another origin', (target) => redirect(target, 307)],
  ]
  for (const [what, url] of cases) {
    it(`${what}: refused as bad_response, nothing from the other origin delivered`, async () => {
      const key = uniqueName('redirect')
      const target = hostileUrl({ key, ids: '1,2,3', endId: 4 }, otherOrigin())
      const hub = relay()
      await hub.open({ runId: key, sessionId: key, url: url(target), preset: 'reference', reconnect: { baseMs: 20, maxMs: 100 } })
      const seen = recorder()
      hub.subscribe({ runId: key }, seen.handlers)
      await waitFor(() => seen.finished, { what: 'the run to end or fail' })
      expect(seen.statuses.at(-1)).toBe('failed')
      expect(seen.errors.at(-1)).toMatchObject({ code: 'bad_response' })
      expect(seen.events).toEqual([])
      expect((await hostileLog(key)).filter((request) => !request.probe)).toEqual([]) // never even asked
    })
  }
})
