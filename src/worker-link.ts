import { RelayError } from './errors.ts'
import type { RelayOptions } from './relay-types.ts'

/**
 * Starts the SharedWorker and tells, fast, when its script cannot run. Browsers report a worker
 * script that failed to load (a 404, a non-JavaScript MIME type, a cross-origin or `file:` URL)
 * only as an `error` event on the SharedWorker object [html: "run a worker", step "if fetching
 * fails, queue a task to fire an event named error"]; without listening for it, the page only
 * sees a `hello` that never answers.
 */

/**
 * The worker's file as the published package names it, relative to the module. The lib build
 * (scripts/published-form.ts) writes the emitted file name here; in the source it stays as is.
 */
const WORKER_ASSET: string = '__RUN_RELAY_WORKER_ASSET__'

export interface WorkerLink {
  port: MessagePort
  /** Rejects with a `worker_unavailable` RelayError if the script fails to load; never settles once the worker has answered. */
  failed: Promise<never>
  /** What the error messages call the worker's URL. */
  url: string
  /** Closes the port and stops listening for a load error. */
  close(): void
}

export function openSharedWorker(name: string, extendedLifetime: boolean, workerUrl: RelayOptions['workerUrl']): WorkerLink {
  let worker: SharedWorker
  // A factory is called once: its URL is both where the worker comes from and what the errors name.
  let given: { url: string | URL | undefined } | { threw: unknown }
  try {
    given = { url: typeof workerUrl === 'function' ? workerUrl() : workerUrl }
  } catch (error) {
    given = { threw: error }
  }
  const url = 'url' in given ? describeUrl(given.url) : `workerUrl() threw ${String(given.threw)}`
  try {
    if (!('url' in given)) throw given.threw
    worker = construct(name, extendedLifetime, given.url)
  } catch (error) {
    const failed = Promise.reject(loadError(url, constructionError(error)))
    failed.catch(() => {})
    const { port1 } = new MessageChannel()
    return { port: port1, failed, url, close: () => port1.close() }
  }
  let onError = () => {}
  const failed = new Promise<never>((_resolve, reject) => {
    onError = () => reject(loadError(url, 'it did not load (a 404, a non-JavaScript MIME type, or a URL this origin may not load)'))
  })
  failed.catch(() => {})
  // The listener goes once the worker answers (the script runs: later errors are not load errors) or
  // the port closes: a SharedWorker with a listener stays reachable, and with it this whole link.
  const stopListening = () => worker.removeEventListener('error', onError)
  worker.addEventListener('error', onError, { once: true })
  worker.port.addEventListener('message', stopListening, { once: true })
  return { port: worker.port, failed, url, close: () => (stopListening(), worker.port.close()) }
}

function construct(name: string, extendedLifetime: boolean, workerUrl: string | URL | undefined): SharedWorker {
  if (workerUrl !== undefined) return new SharedWorker(workerUrl, { type: 'module', name, extendedLifetime })
  // [bundlers] Written in the one form that Vite, webpack 5 and Next.js (Turbopack, webpack) rewrite to
  // the worker file they emit, and that esbuild and Rollup keep as it is (it then resolves next to
  // their output): a literal `new URL(…, import.meta.url)` passed directly to `new SharedWorker(`, with a literal options
  // object (Vite reads `type` from it), hence two call sites. The published file keeps this form
  // with the emitted file's relative name (scripts/published-form.ts).
  return extendedLifetime
    ? new SharedWorker(new URL('../worker/shared-worker.ts', import.meta.url), { type: 'module', name, extendedLifetime: true })
    : new SharedWorker(new URL('../worker/shared-worker.ts', import.meta.url), { type: 'module', name })
}

/**
 * The worker's URL, as far as this module can know it. Not by reading `import.meta.url`:
 * webpack and Next.js replace every such read with the build machine's `file:` path. The
 * module's own URL comes from the stack, at run time, only when a load failed.
 */
function describeUrl(workerUrl: string | URL | undefined): string {
  if (workerUrl !== undefined) return String(workerUrl)
  if (WORKER_ASSET.startsWith('__')) return 'worker/shared-worker.ts (from the source)'
  const file = `run-relay/dist/lib/${WORKER_ASSET.replace(/^\.\//, '')}`
  const module = /https?:\/\/[^\s)]+?\.m?js/.exec(new Error().stack ?? '')?.[0]
  // Where `new URL(asset, import.meta.url)` points if the bundler left it as it is (esbuild, Rollup), as string arithmetic:
  // `new URL(asset, base)` here would be taken by Turbopack for a second asset reference.
  const unbundled = module ? `${module.slice(0, module.lastIndexOf('/') + 1)}${WORKER_ASSET.replace(/^\.\//, '')}` : undefined
  return `${file} (referenced as new URL('${WORKER_ASSET}', import.meta.url)${module ? ` from ${module}: ${unbundled} unless your bundler emitted it elsewhere` : ''})`
}

/** The construction threw: an invalid base URL means `import.meta.url` is empty (a classic script, esbuild's `iife` output). */
function constructionError(error: unknown): string {
  const invalidBase = error instanceof TypeError && /URL/.test(error.message)
  return `constructing it threw ${String(error)}${invalidBase ? " (import.meta.url is empty here: a classic script, or esbuild's iife format; pass workerUrl)" : ''}`
}

function loadError(url: string, what: string): RelayError {
  return new RelayError(
    'worker_unavailable',
    `run-relay: the SharedWorker script ${url}: ${what.replace(/\.$/, "")}. Serve that file as JavaScript: if your bundler does not emit it ` +
      "(esbuild, a classic script), copy node_modules/run-relay/dist/lib/assets/ next to your bundle, or pass " +
      "createRunRelay({ workerUrl: '/path/to/shared-worker.js' }); mode: 'auto' falls back to a hub in the page.",
  )
}
