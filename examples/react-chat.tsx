import { startRun } from 'run-relay'
import { RunRelayProvider, useRunRelay, useRuns, useSession } from 'run-relay/react'

/** A chat pane: the text of the session's current run, live, with a Stop button. */
export function ChatPane({ sessionId }: { sessionId: string }) {
  const { state: text, isStreaming, status, error, stop } = useSession(sessionId)
  return (
    <section data-testid="pane" data-status={status ?? ''}>
      <p data-testid="reply">{text}</p>
      {isStreaming && <button onClick={stop}>Stop</button>}
      {error && <p role="alert">{error.message}</p>}
    </section>
  )
}

/** Sends a message: the POST that starts the turn, then the run opens in the hub (a 409 joins the running one). */
export function Composer({ sessionId }: { sessionId: string }) {
  const relay = useRunRelay()
  return (
    <form onSubmit={(event) => {
      event.preventDefault()
      const input = event.currentTarget.elements.namedItem('message') as HTMLInputElement
      void startRun(relay, { sessionId, message: input.value }).catch((error) => alert(error.message))
      input.value = ''
    }}>
      <input name="message" />
    </form>
  )
}

/** The sidebar's running dots, for every chat of every tab. */
export function RunningChats() {
  const runs = useRuns()
  return <ul>{runs.filter((run) => run.status !== 'ended' && run.status !== 'failed').map((run) => <li key={run.runId}>{run.sessionId}</li>)}</ul>
}

export function App({ sessionId }: { sessionId: string }) {
  return (
    <RunRelayProvider>
      <RunningChats />
      <ChatPane sessionId={sessionId} />
      <Composer sessionId={sessionId} />
    </RunRelayProvider>
  )
}
