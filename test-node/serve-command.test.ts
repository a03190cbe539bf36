import { spawn } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { replyTokens } from '../server/prose.ts'
import { freePort } from './redis-server.ts'
import { redisUrl } from './redis-client.ts'
import { readSse } from './sse-client.ts'

/** `npm run serve -- --port P --redis URL`, twice: the documented way to run instances on one log. */
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
})
