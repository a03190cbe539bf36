// Node's `http`, typed structurally: this module imports nothing from Node.

/** What `toNodeListener` reads of a Node request (`http.IncomingMessage`). */
export interface NodeRequestLike {
  /** The HTTP method. @defaultValue `'GET'` */
  method?: string
  /** The request's path and query. */
  url?: string
  /** The request headers, as Node gives them. */
  headers: Record<string, string | string[] | undefined>
  /** A chunk of the request body. */
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown
  /** The body ended, or the request closed. */
  on(event: 'end' | 'close', listener: () => void): unknown
  /** The request failed (the client went away mid-body, say). */
  on(event: 'error', listener: (error: Error) => void): unknown
}

/** What `toNodeListener` uses of a Node response (`http.ServerResponse`). */
export interface NodeResponseLike {
  /** Sends the status and headers. */
  writeHead(status: number, headers: Record<string, string | string[]>): unknown
  /** Writes a chunk of the body; false means wait for `drain`. */
  write(chunk: Uint8Array): boolean
  /** Ends the response. */
  end(): unknown
  /** Listens once for `drain` (the client took the buffered bytes) or `close`. */
  once(event: 'drain' | 'close', listener: () => void): unknown
  /** Stops listening. */
  off(event: 'drain' | 'close', listener: () => void): unknown
  /** The connection closed (the client went away, or the response ended). */
  on(event: 'close', listener: () => void): unknown
  /** The response's socket is destroyed. */
  readonly destroyed?: boolean
  /** `end()` was called. */
  readonly writableEnded?: boolean
  /** Sends the headers at once, before the first body chunk. */
  flushHeaders?(): void
}

/** Options of `toNodeListener`. */
export interface NodeListenerOptions {
  /** The origin to build request URLs with. @defaultValue `http://${Host header}` */
  origin?: string
  /** The largest request body buffered; past it the answer is 413 (bodies here are small JSON). @defaultValue 1_048_576 */
  maxBodyBytes?: number
}

/** The defaults of `NodeListenerOptions`. */
export const NODE_LISTENER_DEFAULTS = {
  /** The default of `NodeListenerOptions.maxBodyBytes`: 1 MiB. */
  maxBodyBytes: 1_048_576,
} as const

/** A request body past `maxBodyBytes`. */
class BodyTooLarge extends Error {}

/**
 * Serves a Web `fetch` handler from Node's `http` (or Express, Connect, Vite middleware).
 * Streaming bodies honour backpressure: after a `write` that returns false, nothing more is read
 * from the body until `drain`; the body is cancelled when the client goes away. A request body is
 * buffered up to `maxBodyBytes` (413 past it); a handler that throws answers 500.
 *
 * @example
 * createServer(toNodeListener(server.fetch)).listen(3000)
 */
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
    const origin = options.origin ?? `http://${headers.get('host') ?? 'localhost'}`
    const maxBodyBytes = options.maxBodyBytes ?? NODE_LISTENER_DEFAULTS.maxBodyBytes
    let response: Response
    try {
      // Request bodies here are small JSON: buffered (up to a cap), so no Node stream type leaks into the handler.
      // Inside the try: a request that fails mid-body (the client went away) must not become an unhandled rejection.
      const body = method === 'GET' || method === 'HEAD' ? undefined : await readAll(req, maxBodyBytes)
      response = await handler(new Request(new URL(req.url ?? '/', origin), { method, headers, body, signal: abort.signal }))
    } catch (error) {
      response =
        error instanceof BodyTooLarge
          ? json(413, { error: `the request body is over ${maxBodyBytes} bytes: send less, or raise toNodeListener's maxBodyBytes` })
          : json(500, { error: String(error) })
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
          // Whichever comes first removes the other: a long stream waits for many drains, and a
          // `close` listener left behind by each would pile up on the response.
          const settle = () => {
            res.off('drain', settle)
            res.off('close', settle)
            resolve()
          }
          res.once('drain', settle)
          res.once('close', settle)
        })
      }
    } catch {
      // The body failed (the log went away): end the response; the client resumes from its server cursor.
    }
    if (!res.writableEnded) res.end()
  }
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
}

function readAll(req: NodeRequestLike, maxBytes: number): Promise<Uint8Array<ArrayBuffer>> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = []
    let size = 0
    let settled = false
    const fail = (error: Error) => {
      if (settled) return
      settled = true
      chunks.length = 0
      reject(error)
    }
    req.on('data', (chunk) => {
      if (settled) return
      size += chunk.length
      // Past the cap nothing more is kept: the rest of the body is read and dropped.
      if (size > maxBytes) fail(new BodyTooLarge())
      else chunks.push(chunk)
    })
    req.on('end', () => {
      if (settled) return
      settled = true
      const all = new Uint8Array(size)
      let at = 0
      for (const chunk of chunks) {
        all.set(chunk, at)
        at += chunk.length
      }
      resolve(all)
    })
    req.on('error', fail)
    // A client gone before the end: no 'end' comes, and the listener must not wait for it for ever.
    req.on('close', () => fail(new Error('the request closed before its body ended')))
  })
}
