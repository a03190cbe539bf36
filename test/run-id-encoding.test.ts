import { describe, expect, it } from 'vitest'
import { uniqueName, waitFor } from './helpers.ts'

/** Run ids that a URL must encode, through the README's plain example against the dev chat server. */

describe('run ids in URLs', () => {
  it('the README example encodes the run id: an id with # and & reaches the server whole', async () => {
    const { sendMessage } = await import('../examples/plain.ts')
    const realFetch = globalThis.fetch
    // This dev server can name its streams with characters a URL must encode.
    globalThis.fetch = (input, init) => {
      if (String(input) !== '/api/chat/start') return realFetch(input, init)
      return realFetch(input, { ...init, body: JSON.stringify({ ...JSON.parse(String(init?.body)), stream_id_prefix: 'a#b&c=' }) })
    }
    const pane = document.createElement('div')
    const sessionId = uniqueName('encoded')
    let stop: () => void = () => {}
    try {
      stop = await sendMessage(sessionId, 'an id to encode', pane)
    } finally {
      globalThis.fetch = realFetch
    }
    await waitFor(() => pane.dataset.status === 'ended' || pane.dataset.status === 'failed', { what: 'the reply to end' })
    stop()
    expect(pane.title).toBe('')
    expect(pane.dataset.status).toBe('ended')
  })
})
