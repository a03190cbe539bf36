import { describe, expect, it } from 'vitest'
import type { RelayOptions } from '../src/relay-types.ts'
import { uniqueName, useRelays } from './helpers.ts'

/** The hub-wide settings a page gives (allowed origins, the budget, the caps) and the URLs they admit. */
const relay = useRelays('hub-settings')

describe('hub settings', () => {
  const refused = async (hub: RelayOptions['hub']) => {
    const tab = relay({ hub })
    const error = await tab.ready.then(() => new Error(`settings ${JSON.stringify(hub)} were accepted`), (error: Error) => error)
    await expect(tab.open({ runId: 'r', sessionId: 's', url: '/x' }), 'a later call').rejects.toMatchObject({ code: 'invalid_spec' })
    return error as Error & { code: string }
  }

  it('refuses invalid settings with a typed error that says how to fix the call, and applies none of them', async () => {
    const cases: Array<[unknown, string]> = [
      [{ allowedOrigins: 'https://api.example.com' }, 'allowedOrigins must be an array of origins'],
      [{ allowedOrigins: ['api.example.com'] }, "e.g. 'https://api.example.com'"],
      [{ allowedOrigins: ['https://api.example.com/v1'] }, 'scheme, host and port only'],
      [{ allowedOrigins: ['https://user:pw@api.example.com'] }, 'scheme, host and port only'],
      [{ connectionBudget: { http1: 0 } }, 'connectionBudget.http1 must be a whole number >= 1'],
      [{ connectionBudget: { http3: 2 } }, "connectionBudget has no 'http3'"],
      [{ maxEventsPerRun: 0 }, 'maxEventsPerRun must be a whole number >= 1'],
      [{ maxBytesPerRun: 1.5 }, 'maxBytesPerRun must be a whole number >= 1'],
      [{ retentionMs: -1 }, 'retentionMs must be a finite number of milliseconds >= 0'],
      [{ allowOrigins: [] }, "unknown setting 'allowOrigins'"],
    ]
    const name = uniqueName('settings')
    for (const [hub, message] of cases) {
      const error = await refused(hub as RelayOptions['hub'])
      expect(error, JSON.stringify(hub)).toMatchObject({ name: 'RelayError', code: 'invalid_spec' })
      expect(error.message).toContain(message)
    }
    // A valid part next to an invalid one is not applied either.
    const mixed = relay({ name, hub: { connectionBudget: { http1: 2 }, retentionMs: -1 } })
    await expect(mixed.ready).rejects.toMatchObject({ code: 'invalid_spec' })
    expect((await relay(name).ready).settings.connectionBudget.http1).toBe(4)
  })

  it('normalises allowedOrigins: a trailing slash or an uppercase scheme still matches', async () => {
    const other = location.origin.includes('localhost') ? location.origin.replace('localhost', '127.0.0.1') : location.origin.replace('127.0.0.1', 'localhost')
    const written = `${other.replace('http:', 'HTTP:')}/`
    const hub = relay({ hub: { allowedOrigins: [written] } })
    expect((await hub.ready).settings.allowedOrigins).toEqual([other])
    await expect(hub.open({ runId: uniqueName('r'), sessionId: 's', url: `${other}/api/chat/stream?stream_id=x`, preset: 'reference' })).resolves.toMatchObject({ status: expect.any(String) })
  })

  it('refuses a stream URL with user:pass@ as url_refused at open', async () => {
    const hub = relay()
    const url = `${location.protocol}//user:secret@${location.host}/api/chat/stream?stream_id=x`
    await expect(hub.open({ runId: uniqueName('r'), sessionId: 's', url })).rejects.toMatchObject({ code: 'url_refused', message: expect.stringContaining('credentials') })
    expect((await hub.diagnostics()).runs).toEqual([])
  })
})
