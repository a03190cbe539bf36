import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

/**
 * Installs the fixture apps as a user would: outside this repository (a Next.js or Vite app in
 * here would pick up the repo's own lockfile, package name and tsconfig paths), from their own
 * lockfile (apps/package-lock.json, `npm ci`), plus the packed tarball (`npm run build:lib && npm pack`).
 * The install is kept between local runs while the lockfile is unchanged.
 */
export const repo = resolve(import.meta.dirname, '..', '..')
const apps = join(repo, 'apps')

export function installApps(): string {
  const lock = readFileSync(join(apps, 'package-lock.json'))
  const dir = join(tmpdir(), `run-relay-apps-${createHash('sha256').update(lock).digest('hex').slice(0, 12)}`)
  if (!existsSync(join(dir, 'node_modules', '.package-lock.json'))) {
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    cpSync(join(apps, 'package.json'), join(dir, 'package.json'))
    cpSync(join(apps, 'package-lock.json'), join(dir, 'package-lock.json'))
    run('npm', ['ci', '--no-audit', '--no-fund'], dir)
  }
  run('npm', ['run', 'build:lib'], repo)
  const [{ filename }] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: repo, encoding: 'utf8' })) as [{ filename: string }]
  // --no-save: the fixtures' lockfile stays as committed; the tarball changes with every build.
  run('npm', ['install', '--no-save', '--no-audit', '--no-fund', join(dir, filename)], dir)
  for (const app of ['next', 'next-fresh', 'vite-react', 'vite-vue', 'sveltekit', 'esbuild']) {
    rmSync(join(dir, app), { recursive: true, force: true })
    cpSync(join(apps, app), join(dir, app), { recursive: true })
  }
  // The Vite app's App.tsx is the React example of docs/client.md, as written there.
  cpSync(join(repo, 'examples', 'react-chat.tsx'), join(dir, 'vite-react', 'src', 'App.tsx'))
  // The Vue app's Chat.vue is the README's Vue example, as written there.
  cpSync(join(repo, 'examples', 'vue-chat.vue'), join(dir, 'vite-vue', 'src', 'Chat.vue'))
  // The SvelteKit app's chats are the Svelte examples (README, docs/client.md): the binding's, and @ai-sdk/svelte's under /ai.
  cpSync(join(repo, 'examples', 'svelte-chat.svelte'), join(dir, 'sveltekit', 'src', 'routes', 'Chat.svelte'))
  cpSync(join(repo, 'examples', 'svelte-ai-sdk-chat.svelte'), join(dir, 'sveltekit', 'src', 'routes', 'ai', 'Chat.svelte'))
  // The fresh create-next-app takes the AI SDK files of the README and docs/server.md as written: the chat, the server, its routes.
  cpSync(join(repo, 'examples', 'ai-sdk-chat.tsx'), join(dir, 'next-fresh', 'app', 'chat.tsx'))
  cpSync(join(repo, 'examples', 'next-ai-sdk', 'lib', 'chat-server.ts'), join(dir, 'next-fresh', 'lib', 'chat-server.ts'))
  cpSync(join(repo, 'examples', 'next-ai-sdk', 'app', 'api'), join(dir, 'next-fresh', 'app', 'api'), { recursive: true })
  return dir
}

/** Runs a build as a user would in a terminal: both its output streams, for the warnings it prints. */
export function runWithOutput(command: string, args: string[], cwd: string, env: Record<string, string> = {}): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', ...env } })
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${output}`)
  return output
}

export function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: 'pipe', env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', ...env } })
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string }
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout ?? ''}\n${stderr ?? ''}`)
  }
}

/** A server process of a fixture app, ready once its output matches `ready`. */
export interface AppServer {
  url: string
  output(): string
  stop(): Promise<void>
  /** `kill -9`: the process dies mid-whatever, as a crashed instance does. */
  kill(): Promise<void>
}

export async function startServer(command: string, args: string[], cwd: string, options: { env?: Record<string, string>; url: string; ready: RegExp; timeoutMs?: number }): Promise<AppServer> {
  const child: ChildProcess = spawn(command, args, { cwd, env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const stopWith = (signal: NodeJS.Signals) => new Promise<void>((resolveStop) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolveStop()
    child.once('exit', () => resolveStop())
    child.kill(signal)
  })
  const stop = () => stopWith('SIGTERM')
  const deadline = Date.now() + (options.timeoutMs ?? 60_000)
  while (!options.ready.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop()
      throw new Error(`${command} ${args.join(' ')} did not start:\n${output}`)
    }
    await new Promise((resolveWait) => setTimeout(resolveWait, 100))
  }
  return { url: options.url, output: () => output, stop, kill: () => stopWith('SIGKILL') }
}

/** A free TCP port (listen on 0, close). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net')
  return new Promise((resolvePort) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolvePort(port))
    })
  })
}
