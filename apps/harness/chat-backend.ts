import { createReadStream, existsSync, statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { extname, join, normalize } from 'node:path'
import { createChatServer } from '../../dev-server/chat-server.ts'

/**
 * The fixture apps' backend: the dev chat server (dev-server/chat-server.ts, the same protocol and
 * test endpoints as `npm test`) as a plain Node HTTP server. Next.js and Vite proxy `/api` to it;
 * for the esbuild page it also serves the page's static files.
 */
export interface ChatBackend {
  port: number
  url: string
  /** Serves files from `dir` for paths outside /api (the esbuild page). */
  serveStatic(dir: string | undefined): void
  close(): Promise<void>
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.map': 'application/json', '.css': 'text/css' }

export async function startChatBackend(): Promise<ChatBackend> {
  const handle = createChatServer()
  let staticDir: string | undefined
  const server: Server = createServer((req, res) => {
    const notApi = () => {
      const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '')
      const file = staticDir && join(staticDir, path.endsWith('/') ? `${path}index.html` : path)
      if (!file || !existsSync(file) || !statSync(file).isFile()) {
        res.writeHead(404, { 'Content-Type': 'text/plain' })
        return void res.end('not found')
      }
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' })
      createReadStream(file).pipe(res)
    }
    void handle(req, res, notApi).catch((error: unknown) => {
      res.writeHead(500, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify({ error: String(error) }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('the chat backend has no port')
  return {
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    serveStatic: (dir) => void (staticDir = dir),
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
