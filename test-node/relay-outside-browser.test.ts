import { describe, expect, it } from 'vitest'
import { createRunRelay, RelayError } from '../src/index.ts'
import { waitFor } from './wait.ts'

const messagePorts = () => process.getActiveResourcesInfo().filter((resource) => resource === 'MessagePort').length

/** The page half run where there is no browser: server rendering, a script, a Node test. */
describe('a relay outside a browser', () => {
  it('rejects each call with no_browser, and leaves nothing that keeps Node running', async () => {
    const before = messagePorts()
    const relay = createRunRelay()
    const opened = relay.open({ runId: 'r1', sessionId: 's1', url: '/api/chat/stream?stream_id=r1' })
    await expect(opened).rejects.toBeInstanceOf(RelayError)
    await expect(opened).rejects.toMatchObject({ code: 'no_browser' })
    await expect(relay.activeRun('s1')).rejects.toMatchObject({ code: 'no_browser' })
    // No dispose(): a script that forgets it must still exit (a port's close completes a tick later).
    await waitFor(() => messagePorts() === before, 'no MessagePort left open', 2000)
  })
})
