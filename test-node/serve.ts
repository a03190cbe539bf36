import { createServer, type Server } from 'node:http'
import { toNodeListener } from '../server/index.ts'

/** Serves a fetch handler over real HTTP on a free port. */
export async function serve(handler: (request: Request) => Promise<Response>): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer(toNodeListener(handler))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
