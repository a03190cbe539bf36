import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build, preview, type PreviewServer } from 'vite'
import { chatServerPlugin } from '../dev-server/chat-server.ts'

/**
 * Node side of the packaging test: builds and packs the library as npm would
 * publish it, installs the tarball into a throwaway consumer app, builds that
 * app with Vite and serves it (with the dev chat server) for a browser tab.
 */
const root = resolve(import.meta.dirname, '..')
let server: PreviewServer | undefined

/** What the packaging checks found, for the browser test to assert on. */
export interface PackedConsumer {
  url: string
  webpackUrl: string
  webpackPublicPathUrl: string
  /**
   * The first line of each entry file (only react.js carries `'use client'`), the client chunk's
   * SharedWorker construction, and the modules bundled into the worker file, as its source map lists them.
   */
  published: { firstLines: Record<string, string>; workerConstruction: string[]; workerSources: string[] }
  gzipSizes: Record<string, number>
  budget: Record<string, number>
  /** publint's messages (errors and warnings). */
  publint: string[]
  /** arethetypeswrong's problems, per entry point and resolution mode. */
  attw: string[]
  /** TypeScript errors of a typed consumer, with `skipLibCheck: false`, per `moduleResolution`. */
  typecheck: Record<'bundler' | 'node16', string>
}

const TYPED_CONSUMER = `import { createRunRelay, RelayError, type RunEvent, type RunSpec, type RunSummary } from 'run-relay'
import { RunRelayProvider, textReducer, useRun, useRuns, useSession, type RunView } from 'run-relay/react'
import { RelayChatTransport } from 'run-relay/ai-sdk'
import { defineInspector, RunRelayInspector } from 'run-relay/inspector'
import { runsStore, sessionStore, type ReadableStore } from 'run-relay/store'
import { provideRunRelay, useSession as useVueSession } from 'run-relay/vue'
import { getRunRelay, runStore } from 'run-relay/svelte'
// @ts-expect-error The page-to-hub wire contract is internal.
import type { HubApi } from 'run-relay'

const relay = createRunRelay({ name: 'typed', hub: { allowedOrigins: ['https://api.example'] } })
const spec: RunSpec = { runId: 'r', sessionId: 's', url: '/api/chat/stream?stream_id=r', preset: 'reference' }
export const opened: Promise<RunSummary> = relay.open(spec)
export const seq = (event: RunEvent): number => event.seq
export const transport = new RelayChatTransport({ relay })
export const hooks = [RunRelayProvider, useRun, useSession, useRuns, textReducer, defineInspector, RunRelayInspector, RelayError] as const
export type Views = RunView<string>
export const stores: Array<ReadableStore<unknown>> = [sessionStore(relay, 's'), runsStore(relay), runStore(relay, 'r')]
export const bindings = [provideRunRelay, useVueSession, getRunRelay] as const
export type Internal = HubApi
`

/**
 * The checks and builds of one tarball are kept by its hash: the second engine's run (the same
 * tarball, npm packs with fixed mtimes) serves the consumer built for the first one.
 */
export async function servePackedConsumer(): Promise<PackedConsumer> {
  execFileSync('npm', ['run', 'build:lib'], { cwd: root, stdio: 'pipe' })
  const staging = mkdtempSync(join(tmpdir(), 'run-relay-pack-'))
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', staging], { cwd: root, encoding: 'utf8' })) as Array<{ filename: string }>
  const hash = createHash('sha256').update(readFileSync(join(staging, packed[0]!.filename))).update(TYPED_CONSUMER).digest('hex').slice(0, 16)
  const work = join(tmpdir(), `run-relay-consumer-${hash}`)
  const app = join(work, 'app')
  const checksFile = join(work, 'checks.json')
  let checks: Pick<PackedConsumer, 'publint' | 'attw' | 'typecheck'>
  if (existsSync(checksFile)) checks = JSON.parse(readFileSync(checksFile, 'utf8')) as typeof checks
  else {
    rmSync(work, { recursive: true, force: true })
    mkdirSync(work, { recursive: true })
    renameSync(join(staging, packed[0]!.filename), join(work, packed[0]!.filename))
    checks = await buildConsumer(work, app, join(work, packed[0]!.filename))
    writeFileSync(checksFile, JSON.stringify(checks))
  }
  rmSync(staging, { recursive: true, force: true })
  const { publint, attw, typecheck } = checks
  server = await preview({ root: app, configFile: false, plugins: [chatServerPlugin()], preview: { port: 0, host: '127.0.0.1' }, logLevel: 'silent' })
  const address = server.httpServer.address()
  if (!address || typeof address === 'string') throw new Error('preview server has no port')

  // Gzipped bytes of each budgeted file, as installed (patterns like `hub-*.js` match a hashed name).
  const installed = join(app, 'node_modules', 'run-relay')
  const budget = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { sizeBudget: Record<string, number> }).sizeBudget
  const gzipSizes: Record<string, number> = {}
  for (const pattern of Object.keys(budget)) {
    const [dir, name] = [pattern.slice(0, pattern.lastIndexOf('/')), pattern.slice(pattern.lastIndexOf('/') + 1)]
    const matcher = new RegExp(`^${name.replace('.', '\\.').replace('*', '[\\w-]+')}$`)
    const file = readdirSync(join(installed, dir)).find((f) => matcher.test(f))
    if (!file) throw new Error(`No installed file matches ${pattern}`)
    gzipSizes[pattern] = gzipSync(readFileSync(join(installed, dir, file))).length
  }
  const url = `http://127.0.0.1:${address.port}/`
  const lib = join(installed, 'dist', 'lib')
  const firstLine = (file: string) => readFileSync(join(lib, file), 'utf8').split('\n')[0]!
  const workerConstruction = readdirSync(lib).filter((file) => file.endsWith('.js')).flatMap((file) => readFileSync(join(lib, file), 'utf8').match(/new SharedWorker\([^{]*/g) ?? [])
  const firstLines = Object.fromEntries(['run-relay.js', 'react.js', 'ai-sdk.js', 'store.js', 'vue.js', 'svelte.js', 'inspector.js'].map((file) => [file, firstLine(file)]))
  const workerFile = readdirSync(join(lib, 'assets')).find((file) => /^shared-worker-[\w-]+\.js$/.test(file))
  if (!workerFile) throw new Error('No published worker file (dist/lib/assets/shared-worker-*.js)')
  const workerSources = (JSON.parse(readFileSync(join(lib, 'assets', `${workerFile}.map`), 'utf8')) as { sources: string[] }).sources
  const published = { firstLines, workerConstruction, workerSources }
  return { url, webpackUrl: `${url}webpack/index.html`, webpackPublicPathUrl: `${url}webpack-public-path/index.html`, gzipSizes, budget, publint, attw, typecheck, published }
}

async function lintPackage(dir: string): Promise<string[]> {
  const { publint } = await import('publint')
  const { formatMessage } = await import('publint/utils')
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  const { messages } = await publint({ pkgDir: dir, level: 'warning', strict: true })
  return messages.map((message) => `${message.type}: ${formatMessage(message, pkg) ?? message.code}`)
}

/** arethetypeswrong on the tarball: problems under node16 (ESM) and bundler resolution. */
function typesWrong(tarball: string): string[] {
  let output: string
  try {
    output = execFileSync(join(root, 'node_modules/.bin/attw'), [tarball, '--profile', 'esm-only', '--format', 'json'], { encoding: 'utf8' })
  } catch (error) {
    output = (error as { stdout?: string }).stdout ?? String(error)
  }
  const report = JSON.parse(output) as { analysis?: { problems?: Array<{ kind: string; entrypoint?: string; resolutionKind?: string }> } }
  // The package is ESM-only by design (`"type": "module"`, no `require` condition): CommonJS and
  // node10 resolution are out of scope, as `--profile esm-only` says; the JSON report lists them anyway.
  const inScope = (p: { resolutionKind?: string }) => p.resolutionKind === undefined || p.resolutionKind === 'node16-esm' || p.resolutionKind === 'bundler'
  return (report.analysis?.problems ?? []).filter(inScope).map((p) => `${p.kind} ${p.entrypoint ?? ''} ${p.resolutionKind ?? ''}`.trim())
}

/** Type-checks the typed consumer against the installed package with `skipLibCheck: false`. */
function typecheckConsumer(app: string, resolution: 'bundler' | 'node16'): string {
  const config = {
    compilerOptions: {
      target: 'ES2022', module: resolution === 'bundler' ? 'ESNext' : 'Node16', moduleResolution: resolution === 'bundler' ? 'Bundler' : 'Node16',
      // `node` only because the `ai` package's own declarations need it (Buffer, node:http), as in any AI SDK app.
      lib: ['ES2023', 'DOM', 'DOM.Iterable'], types: ['node'], strict: true, skipLibCheck: false, noEmit: true,
    },
    files: ['typed.ts'],
  }
  writeFileSync(join(app, `tsconfig.${resolution}.json`), JSON.stringify(config))
  try {
    execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', `tsconfig.${resolution}.json`], { cwd: app, encoding: 'utf8' })
    return ''
  } catch (error) {
    return (error as { stdout?: string }).stdout ?? String(error)
  }
}

/**
 * The same consumer bundled by webpack 5, which emits the SharedWorker file it finds through
 * `new URL('./…', import.meta.url)` passed to `new SharedWorker(`: once with webpack's defaults
 * (no `publicPath`), once with a `publicPath` an app sets to serve its bundle from a path.
 */
async function buildWithWebpack(app: string, dir: string, publicPath?: string): Promise<void> {
  const { default: webpack } = await import('webpack')
  const outDir = join(app, 'dist', dir)
  const compiler = webpack({
    mode: 'production', context: app, entry: './main.js', devtool: false,
    output: { path: outDir, filename: 'main.js', ...(publicPath === undefined ? {} : { publicPath }) },
    // Only so that the consumer finds this project's comlink; no alias, no shim.
    resolve: { modules: [join(app, 'node_modules'), join(root, 'node_modules')] },
  })
  await new Promise<void>((resolveBuild, reject) => compiler.run((error, stats) => {
    if (error || stats?.hasErrors()) reject(error ?? new Error(stats!.toString('errors-only')))
    else compiler.close(() => resolveBuild())
  }))
  writeFileSync(join(outDir, 'index.html'), '<!doctype html><html><body><script src="./main.js"></script></body></html>')
  const bundle = readFileSync(join(outDir, 'main.js'), 'utf8')
  if (bundle.includes('file://')) throw new Error(`webpack (${dir}) embedded a file: URL in the bundle: the worker URL form is not one it recognises`)
}

/** Installs the tarball into a consumer app in `work`, checks it, and builds the app with Vite and webpack. */
async function buildConsumer(work: string, app: string, tarball: string): Promise<Pick<PackedConsumer, 'publint' | 'attw' | 'typecheck'>> {
  mkdirSync(join(app, 'node_modules'), { recursive: true })
  execFileSync('tar', ['-xzf', tarball, '-C', work])
  renameSync(join(work, 'package'), join(app, 'node_modules', 'run-relay'))
  // The consumer's other dependencies (comlink, react, ai and their types) come from this project.
  symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'))
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }))
  writeFileSync(join(app, 'index.html'), '<!doctype html><html><body><script type="module" src="./main.js"></script></body></html>')
  writeFileSync(join(app, 'main.js'), "import { createRunRelay } from 'run-relay'\nwindow.createRunRelay = createRunRelay\ndocument.title = 'consumer ready'\n")

  const publint = await lintPackage(join(app, 'node_modules', 'run-relay'))
  const attw = typesWrong(tarball)
  writeFileSync(join(app, 'typed.ts'), TYPED_CONSUMER)
  const typecheck = { bundler: typecheckConsumer(app, 'bundler'), node16: typecheckConsumer(app, 'node16') }

  await build({ root: app, configFile: false, logLevel: 'silent' })
  await buildWithWebpack(app, 'webpack')
  await buildWithWebpack(app, 'webpack-public-path', '/webpack-public-path/')
  return { publint, attw, typecheck }
}

export async function closePackedConsumer(): Promise<void> {
  await server?.close()
  server = undefined
}
