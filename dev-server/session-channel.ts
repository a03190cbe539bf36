import type { ServerResponse } from 'node:http'

/**
 * The reference server's per-session announcement channel (README.md: *Server contract*, preset `reference`): runs the
 * server starts by itself (cron, self-wake, another device) are announced as
 * `server_turn_started {session_id, stream_id}`; on subscribe, every live run of the session is
 * announced again with `recovered: true`, so a client that was away misses nothing.
 * Tests can take a session's channel down for a while (`outage`).
 */
export function createSessionChannels() {
  const channels = new Map<string, Set<ServerResponse>>()
  const opened = new Map<string, number>()
  const downUntil = new Map<string, number>()

  function write(res: ServerResponse, sessionId: string, streamId: string, recovered: boolean): void {
    const data = recovered ? { session_id: sessionId, stream_id: streamId, recovered: true } : { session_id: sessionId, stream_id: streamId }
    res.write(`event: server_turn_started\ndata: ${JSON.stringify(data)}\n\n`)
  }

  return {
    /** Serves the channel; `liveRuns` are re-announced at once. Returns false while the channel is down (the caller answers 503). */
    subscribe(sessionId: string, res: ServerResponse, liveRuns: string[], heartbeatMs = 5000): boolean {
      if ((downUntil.get(sessionId) ?? 0) > Date.now()) return false
      opened.set(sessionId, (opened.get(sessionId) ?? 0) + 1)
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' })
      res.write(': session channel\n\n')
      for (const streamId of liveRuns) write(res, sessionId, streamId, true)
      const clients = channels.get(sessionId) ?? new Set()
      channels.set(sessionId, clients.add(res))
      const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), heartbeatMs)
      res.on('close', () => {
        clearInterval(heartbeat)
        clients.delete(res)
      })
      return true
    },

    /** A run the server started by itself, announced live. */
    announce(sessionId: string, streamId: string): void {
      for (const res of channels.get(sessionId) ?? []) write(res, sessionId, streamId, false)
    },

    /** The channel dies for `ms`: open responses are destroyed and new ones refused until then. */
    outage(sessionId: string, ms: number): void {
      downUntil.set(sessionId, Date.now() + ms)
      for (const res of channels.get(sessionId) ?? []) res.destroy()
    },

    stats(sessionId: string): { open: number; opened: number } {
      return { open: channels.get(sessionId)?.size ?? 0, opened: opened.get(sessionId) ?? 0 }
    },
  }
}
