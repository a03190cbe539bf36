import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import { build, preview, type PreviewServer } from 'vite'
import { chatServerPlugin } from '../server/chat-server.ts'

/**
 * Node side of the packaging test: builds and packs the library as npm would
 * publish it, installs the tarball into a throwaway consumer app, builds that
 * app with Vite and serves it (with the dev chat server) for a browser tab.
 */
const root = resolve(import.meta.dirname, '..')
let server: PreviewServer | undefined

export async function servePackedConsumer(): Promise<{ url: string; gzipSizes: Record<string, number>; budget: Record<string, number> }> {
  const work = mkdtempSync(join(tmpdir(), 'run-relay-consumer-'))
  execFileSync('npm', ['run', 'build:lib'], { cwd: root, stdio: 'pipe' })
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' })) as Array<{ filename: string }>
  const app = join(work, 'app')
  mkdirSync(join(app, 'node_modules'), { recursive: true })
  execFileSync('tar', ['-xzf', join(work, packed[0]!.filename), '-C', work])
  renameSync(join(work, 'package'), join(app, 'node_modules', 'run-relay'))
  symlinkSync(join(root, 'node_modules', 'comlink'), join(app, 'node_modules', 'comlink'))
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }))
  writeFileSync(join(app, 'index.html'), '<!doctype html><html><body><script type="module" src="./main.js"></script></body></html>')
  writeFileSync(join(app, 'main.js'), "import { createRunRelay } from 'run-relay'\nwindow.createRunRelay = createRunRelay\ndocument.title = 'consumer ready'\n")
  await build({ root: app, configFile: false, logLevel: 'silent' })
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
  return { url: `http://127.0.0.1:${address.port}/`, gzipSizes, budget }
}

export async function closePackedConsumer(): Promise<void> {
  await server?.close()
  server = undefined
}
