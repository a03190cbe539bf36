/**
 * Serves a Web `fetch` handler from Node's `http` (or Express, Connect, Vite middleware), typed
 * structurally so this module imports nothing from Node. Streaming bodies honour backpressure:
 * after a `write` that returns false, nothing more is read from the body until `drain`; the
 * body is cancelled when the client goes away.
 */

export interface NodeRequestLike {
  method?: string
  url?: string
  headers: Record<string, string | string[] | undefined>
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown
  on(event: 'end' | 'close', listener: () => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
}

export interface NodeResponseLike {
  writeHead(status: number, headers: Record<string, string | string[]>): unknown
  write(chunk: Uint8Array): boolean
  end(): unknown
  once(event: 'drain' | 'close', listener: () => void): unknown
  on(event: 'close', listener: () => void): unknown
  readonly destroyed?: boolean
  readonly writableEnded?: boolean
  flushHeaders?(): void
}

export interface NodeListenerOptions {
  /** The origin to build request URLs with. @defaultValue `http://${Host header}` */
  origin?: string
}

export function toNodeListener(handler: (request: Request) => Response | Promise<Response>, options: NodeListenerOptions = {}) {
  return async function listener(req: NodeRequestLike, res: NodeResponseLike): Promise<void> {
    const abort = new AbortController()
    res.on('close', () => abort.abort())
    const method = req.method ?? 'GET'
    const headers = new Headers()
    for (const [name, value] of Object.entries(req.headers)) {
      if (Array.isArray(value)) for (const item of value) headers.append(name, item)
      else if (value !== undefined) headers.set(name, value)
    }
    // Request bodies here are small JSON: buffered, so no Node stream type leaks into the handler.
    const body = method === 'GET' || method === 'HEAD' ? undefined : await readAll(req)
    const origin = options.origin ?? `http://${headers.get('host') ?? 'localhost'}`
    let response: Response
    try {
      response = await handler(new Request(new URL(req.url ?? '/', origin), { method, headers, body, signal: abort.signal }))
    } catch (error) {
      response = new Response(JSON.stringify({ error: String(error) }), { status: 500, headers: { 'Content-Type': 'application/json' } })
    }
    const outHeaders: Record<string, string | string[]> = {}
    response.headers.forEach((value, name) => (outHeaders[name] = value))
    const cookies = response.headers.getSetCookie?.() ?? []
    if (cookies.length > 0) outHeaders['set-cookie'] = cookies
    res.writeHead(response.status, outHeaders)
    if (!response.body) return void res.end()
    res.flushHeaders?.()
    const reader = response.body.getReader()
    res.on('close', () => void reader.cancel().catch(() => {}))
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done || res.destroyed) break
        if (!res.write(value)) await new Promise<void>((resolve) => {
          res.once('drain', resolve)
          res.once('close', resolve)
        })
      }
    } catch {
      // The body failed (the log went away): end the response; the client resumes from its cursor.
    }
    if (!res.writableEnded) res.end()
  }
}

function readAll(req: NodeRequestLike): Promise<Uint8Array<ArrayBuffer>> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = []
    req.on('data', (chunk) => chunks.push(chunk))
    req.on('end', () => {
      const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
      let at = 0
      for (const chunk of chunks) {
        all.set(chunk, at)
        at += chunk.length
      }
      resolve(all)
    })
    req.on('error', reject)
  })
}
