import { spawn } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { replyTokens } from '../dev-server/prose.ts'
import { freePort } from './redis-server.ts'
import { redisUrl } from './redis-client.ts'
import { readSse, seqOf } from './sse-client.ts'
import { waitFor } from './wait.ts'

/**
 * `npm run serve -- --port P --redis URL`, twice: the documented way to run the dev chat server
 * (the server of `npm run dev` and of the browser suite) as instances on one log.
 */
describe('npm run serve', () => {
  const children: Array<ReturnType<typeof spawn>> = []
  afterEach(async () => {
    for (const child of children.splice(0)) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
  })

  async function serve(args: string[]): Promise<string> {
    const port = await freePort()
    const child = spawn(process.execPath, ['scripts/serve.mjs', '--port', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    children.push(child)
    let output = ''
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm run serve did not start:\n${output}`)), 20_000)
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk
        if (output.includes('listening')) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk))
    })
    expect(output).toContain(args.includes('--redis') ? 'Redis log at' : 'in-memory log')
    return `http://127.0.0.1:${port}`
  }

  it('two instances with one --redis URL: a run started on one replays on the other with the dev server reply', async () => {
    const url = redisUrl()
    const a = await serve(['--redis', url])
    const b = await serve(['--redis', url]) // one after the other: each bundles scripts/serve.ts to the same file
    const started = await fetch(`${a}/api/chat/start`, { method: 'POST', body: JSON.stringify({ session_id: `serve-${Date.now()}`, message: 'hello', tokens: 0, rate: 500 }) })
    const { stream_id: runId } = (await started.json()) as { stream_id: string }
    const read = await readSse(`${b}/api/chat/stream?stream_id=${runId}&after_seq=0`)
    expect(read.events.filter((e) => e.event === 'token').map((e) => (JSON.parse(e.data) as { text: string }).text).join('')).toBe(replyTokens('hello').join(''))
    expect(read.events.map((e) => e.event).slice(-4)).toEqual(['done', 'metering', 'title', 'stream_end'])
  })

  const start = async (instance: string, body: Record<string, unknown>) => {
    const response = await fetch(`${instance}/api/chat/start`, { method: 'POST', body: JSON.stringify({ session_id: `serve-${Math.random().toString(36).slice(2, 10)}`, message: 'hello', ...body }) })
    expect(response.status).toBe(200)
    return ((await response.json()) as { stream_id: string }).stream_id
  }

  it('two dev chat servers on one Redis: a fault knob cuts the stream on A, B resumes it by Last-Event-ID, whole; a cancel on B ends a reader on A', async () => {
    const url = redisUrl()
    const prefix = `serve-${Math.random().toString(36).slice(2, 8)}:`
    const a = await serve(['--redis', url, '--prefix', prefix])
    const b = await serve(['--redis', url, '--prefix', prefix])
    const runId = await start(a, { tokens: 120, rate: 600, faults: { dropAfter: 30 } })
    const cut = await readSse(`${a}/api/chat/stream?stream_id=${runId}&after_seq=0`)
    // A's dev server closed the response after seq 30, before the run's end.
    expect(cut.ended).toBe(true)
    expect(cut.events.map(seqOf)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
    const rest = await readSse(`${b}/api/chat/stream?stream_id=${runId}`, { headers: { 'Last-Event-ID': cut.events.at(-1)!.id! } })
    const seqs = [...cut.events, ...rest.events].map(seqOf)
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1))
    expect(rest.events.at(-1)?.event).toBe('stream_end')
    // Both instances report the run from the one log.
    const transcriptOn = async (instance: string) => ((await (await fetch(`${instance}/api/chat/transcript?stream_id=${runId}`)).json()) as { events: unknown[] }).events
    expect(await transcriptOn(b)).toEqual(await transcriptOn(a))
    expect((await transcriptOn(a)).length).toBe(seqs.length)

    const long = await start(a, { tokens: 10_000, rate: 200 })
    const reading = readSse(`${a}/api/chat/stream?stream_id=${long}&after_seq=0`, { timeoutMs: 10_000 })
    await waitFor(async () => ((await (await fetch(`${b}/api/chat/stream/status?stream_id=${long}`)).json()) as { journal: { last_seq: number } }).journal.last_seq >= 5, "the run to reach B through Redis")
    expect((await fetch(`${b}/api/chat/cancel?stream_id=${long}`)).status).toBe(200)
    const read = await reading
    expect(read.ended).toBe(true)
    expect(read.events.at(-1)?.event).toBe('cancel')
  })

  it('without --redis: one dev chat server on the in-memory log, its knobs working (a 503 once, then the stream)', async () => {
    const a = await serve([])
    const runId = await start(a, { tokens: 0, rate: 500, faults: { status: 503, statusTimes: 1 } })
    expect((await fetch(`${a}/api/chat/stream?stream_id=${runId}&after_seq=0`)).status).toBe(503)
    const read = await readSse(`${a}/api/chat/stream?stream_id=${runId}&after_seq=0`)
    expect(read.status).toBe(200)
    expect(read.events.filter((e) => e.event === 'token').map((e) => (JSON.parse(e.data) as { text: string }).text).join('')).toBe(replyTokens('hello').join(''))
  })
})
