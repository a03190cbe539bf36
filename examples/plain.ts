import { createRunRelay } from 'run-relay'

// One relay per tab: every tab of the origin shares the hub (a SharedWorker) and its connections.
const relay = createRunRelay()

/** Starts a turn on your server and shows the reply in `pane`; switching away only calls `stop()`. */
export async function sendMessage(sessionId: string, message: string, pane: HTMLElement): Promise<() => void> {
  const response = await fetch('/api/chat/start', { method: 'POST', body: JSON.stringify({ session_id: sessionId, message }) })
  const { stream_id, active_stream_id } = await response.json() // 409: the chat already runs; follow that run
  const runId: string = stream_id ?? active_stream_id
  // Opening a run twice, from any tab, joins it: the hub never holds a second connection for it.
  await relay.open({ runId, sessionId, url: `/api/chat/stream?stream_id=${encodeURIComponent(runId)}`, preset: 'reference' })
  return relay.subscribe({ runId }, {
    onEvents: (events) => {
      for (const event of events) if (event.type === 'token') pane.append((event.json as { text: string }).text)
    },
    onStatus: (status, _runId, error) => {
      pane.dataset.status = status
      if (error) pane.title = `${error.code}: ${error.message}`
    },
  }, { decode: 'json' })
}
