import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = fileURLToPath(new URL('..', import.meta.url))
let bundled: Promise<string> | undefined

/** test-node/instance.ts bundled once for plain `node` (Node 20 runs no TypeScript); `redis` stays in node_modules. */
export function instanceScript(): Promise<string> {
  return (bundled ??= (async () => {
    // One file per test process: test files run in parallel workers.
    const outfile = `${root}node_modules/.cache/run-relay/instance-${process.pid}.mjs`
    mkdirSync(`${root}node_modules/.cache/run-relay`, { recursive: true })
    await build({ entryPoints: [`${root}test-node/instance.ts`], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile, logLevel: 'error' })
    return outfile
  })())
}

export interface Instance {
  url: string
  process: ChildProcess
  /** SIGKILL: no cleanup, no last write, the lease just stops being renewed. */
  kill9(): Promise<void>
  stop(): Promise<void>
}

/** Starts one server instance as its own process on the given Redis. */
export async function startInstance(env: { REDIS_URL: string; REDIS_PREFIX: string; LEASE_MS?: string }): Promise<Instance> {
  const child = spawn(process.execPath, [await instanceScript()], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the instance did not start within 15 s:\n${output}`)), 15_000)
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk
      const match = /listening (\d+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(Number(match[1]))
      }
    })
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk))
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`the instance exited with ${code}:\n${output}`))
    })
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name)
    await exited
  }
  return { url: `http://127.0.0.1:${port}`, process: child, kill9: () => signal('SIGKILL'), stop: () => signal('SIGTERM') }
}
