import { RunRelayProvider, useRuns, useSession } from 'run-relay/react'

/** A chat pane: the text of the session's current run, live, with a Stop button. */
export function ChatPane({ sessionId }: { sessionId: string }) {
  const { state: text, isStreaming, error, stop } = useSession(sessionId)
  return (
    <section data-testid="pane">
      <p data-testid="reply">{text}</p>
      {isStreaming && <button onClick={stop}>Stop</button>}
      {error && <p role="alert">{error.message}</p>}
    </section>
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
    </RunRelayProvider>
  )
}
