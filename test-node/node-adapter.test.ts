import { request } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { serve } from './serve.ts'
import { waitFor } from './wait.ts'

/** `toNodeListener` over real HTTP: request bodies are capped, and a request that fails mid-body is answered, not a crash. */
describe('toNodeListener', () => {
  const cleanups: Array<() => Promise<unknown>> = []
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function echoServer() {
    let calls = 0
    const http = await serve(async (incoming) => (calls++, new Response(`${(await incoming.arrayBuffer()).byteLength} bytes`)))
    cleanups.push(() => http.close())
    return { ...http, calls: () => calls }
  }

  it('answers 413 for a body over the cap (1 MiB by default), without calling the handler', async () => {
    const http = await echoServer()
    expect(await (await fetch(http.url, { method: 'POST', body: 'x'.repeat(1000) })).text()).toBe('1000 bytes')
    const tooLarge = await fetch(http.url, { method: 'POST', body: 'x'.repeat(1_048_577) })
    expect(tooLarge.status).toBe(413)
    expect(((await tooLarge.json()) as { error: string }).error).toContain('maxBodyBytes')
    expect(http.calls()).toBe(1)
  })

  it('waits for drain without leaving a listener behind: a long body under backpressure ends with as many as a short one', async () => {
    const chunk = new Uint8Array(64 * 1024) // over the response's buffer: each write waits for a drain
    const body = (chunks: number) => new ReadableStream<Uint8Array>({
      pull(controller) {
        if (chunks-- === 0) controller.close()
        else controller.enqueue(chunk)
      },
    })
    const http = await serve(async (incoming) => new Response(body(Number(new URL(incoming.url).searchParams.get('chunks')))))
    cleanups.push(() => http.close())
    const closeListeners: number[] = []
    http.server.on('request', (_req, res) => res.on('finish', () => closeListeners.push(res.listenerCount('close'))))
    for (const chunks of [4, 200]) expect((await (await fetch(`${http.url}?chunks=${chunks}`)).arrayBuffer()).byteLength).toBe(chunks * chunk.byteLength)
    await waitFor(() => closeListeners.length === 2, 'both responses to finish')
    expect(closeListeners[1]).toBe(closeListeners[0])
  })

  it('survives a client that goes away mid-body (no unhandled rejection), and serves the next request', async () => {
    const http = await echoServer()
    let arrived = false
    http.server.on('request', () => (arrived = true))
    const partial = request(http.url, { method: 'POST', headers: { 'content-length': '100' } })
    partial.on('error', () => {})
    partial.write('only ten b')
    await waitFor(() => arrived, 'the server to get the request')
    partial.destroy()
    // An unhandled rejection from the listener fails this file; a listener that waited for the body for ever would hold this.
    const connections = () => new Promise<number>((resolve) => http.server.getConnections((_error, count) => resolve(count)))
    await waitFor(async () => (await connections()) === 0, 'the server to see the client go')
    expect(await (await fetch(http.url, { method: 'POST', body: 'ok' })).text()).toBe('2 bytes')
    expect(http.calls()).toBe(1)
  })
})
