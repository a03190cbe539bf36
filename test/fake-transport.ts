import type { StreamHandlers, StreamRequest, Transport } from '../worker/transport.ts'

/** A transport the test drives by hand: no network, every connection recorded. */
export interface FakeConnection {
  request: StreamRequest
  handlers: StreamHandlers
  closed: boolean
  /** Sends events with ids `<runId>:<n>` continuing from the last one sent on this run. */
  emit(...events: Array<[type: string, data: string]>): void
}

export function fakeTransport() {
  const connections: FakeConnection[] = []
  const serverSeq = new Map<string | undefined, number>()
  const transport: Transport = (request, handlers) => {
    const connection: FakeConnection = {
      request,
      handlers,
      closed: false,
      emit(...events) {
        for (const [type, data] of events) {
          const seq = (serverSeq.get(request.runId) ?? 0) + 1
          serverSeq.set(request.runId, seq)
          if (!connection.closed) handlers.onEvent(type, data, `${request.runId}:${seq}`)
        }
      },
    }
    connections.push(connection)
    return {
      close() {
        const live = !connection.closed
        connection.closed = true
        return live
      },
    }
  }
  return {
    transport,
    connections,
    /** Connections of one run, oldest first. */
    of: (runId: string) => connections.filter((c) => c.request.runId === runId),
    open: (runId: string) => connections.filter((c) => c.request.runId === runId && !c.closed),
  }
}
