import { dirname, posix } from 'node:path'
import type { Plugin } from 'vite'

/**
 * The lib build's last step: writes the published files in the forms that other bundlers read.
 *
 * 1. The SharedWorker. Vite's library mode (with `base: './'`) writes
 *    `new URL(new URL("assets/w.js", import.meta.url).href, "" + import.meta.url)`. Vite reads that,
 *    but webpack 5 and Next.js (Turbopack and webpack) only recognise the literal form
 *    `new URL('./relative', import.meta.url)` (esbuild and Rollup keep it as it is, resolving next
 *    to their output, where the copy step of docs/install.md puts the file): Next rewrote the `"" + import.meta.url` to a
 *    `file:` URL (the build machine's path), which no page can load. This rewrites it to
 *    `new URL("./assets/w.js", import.meta.url)`, still passed directly to `new SharedWorker(`, so
 *    each bundler emits the worker file and references it by its own public URL.
 *    The worker's file name is also written where src/worker-link.ts names it in error messages.
 * 2. `'use client'`. Rollup drops module directives (Rolldown keeps them, with a warning); Next.js needs it on `run-relay/react`
 *    only (a provider in a server `layout.tsx`); `run-relay/ai-sdk` exports a class that client
 *    components import, and carries none, so Vite and Rollup apps that import it (Vue, Svelte) see
 *    no directive warning. Entries whose source starts with
 *    the directive get it back on their first line.
 *
 * Both edits keep every line where it was, so the source maps stay right line by line.
 * The build fails if Vite's form changes and the worker reference is not found.
 */
export function publishedForm(): Plugin {
  const clientModules = new Set<string>()
  return {
    name: 'run-relay-published-form',
    apply: 'build',
    enforce: 'post',
    transform(code, id) {
      // After the module's doc comment, if it has one (TypeDoc reads a module's name there, before any statement).
      if (/^\s*(?:\/\*[\s\S]*?\*\/\s*)?(['"])use client\1/.test(code)) clientModules.add(id)
      return undefined
    },
    generateBundle(_options, bundle) {
      let workerReferences = 0
      for (const chunk of Object.values(bundle)) {
        if (chunk.type !== 'chunk') continue
        let relative = ''
        chunk.code = chunk.code.replace(VITE_WORKER_URL, (whole: string, asset: string) => {
          workerReferences += 1
          relative = posix.relative(dirname(chunk.fileName), asset)
          relative = relative.startsWith('.') ? relative : `./${relative}`
          const newlines = '\n'.repeat(whole.split('\n').length - 1) // keep the lines below in place
          return `new URL(${JSON.stringify(relative)}, import.meta.url${newlines})`
        })
        // The worker's file name for error messages (src/worker-link.ts).
        if (relative) chunk.code = chunk.code.replace(/(["'`])__RUN_RELAY_WORKER_ASSET__\1/g, JSON.stringify(relative))
        const keptDirective = /^\s*(['"])use client\1/.test(chunk.code) // Rolldown keeps it today; Rollup does not
        if (chunk.facadeModuleId && clientModules.has(chunk.facadeModuleId) && !keptDirective) chunk.code = `'use client';${chunk.code}`
      }
      const constructs = Object.values(bundle).some((chunk) => chunk.type === 'chunk' && chunk.code.includes('new SharedWorker('))
      if (constructs && workerReferences === 0) {
        this.error('publishedForm: the bundle constructs a SharedWorker but Vite\'s worker URL form was not found; update VITE_WORKER_URL in scripts/published-form.ts.')
      }
    },
  }
}

/** `new URL(/* @vite-ignore *\/ new URL("assets/x.js", import.meta.url).href, "" + import.meta.url)`, over any line breaks. */
const VITE_WORKER_URL = /new URL\(\s*(?:\/\*\s*@vite-ignore\s*\*\/\s*)?new URL\(\s*["'`]([^"'`]+\.js)["'`],\s*import\.meta\.url\s*\)\.href,\s*(?:""|''|``)\s*\+\s*import\.meta\.url\s*\)/g
