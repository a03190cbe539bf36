import { startRun } from 'run-relay'
import { RunRelayProvider, useRunRelay, useSession } from 'run-relay/react'

/** One chat: the live text of its current run, Stop while it streams, and a composer that starts a turn. */
function Chat({ sessionId }: { sessionId: string }) {
  const relay = useRunRelay()
  const { state: text, isStreaming, stop } = useSession(sessionId)
  return (
    <form onSubmit={(event) => {
      event.preventDefault()
      const input = event.currentTarget.elements.namedItem('message') as HTMLInputElement
      void startRun(relay, { sessionId, message: input.value }).catch((error) => alert(error.message))
      input.value = ''
    }}>
      <p data-testid="reply">{text}</p>
      {isStreaming && <button type="button" onClick={stop}>Stop</button>}
      <input name="message" />
    </form>
  )
}

// The provider creates the page's relay (and disposes of it on unmount); every tab shares its hub.
export const App = ({ sessionId }: { sessionId: string }) => <RunRelayProvider><Chat sessionId={sessionId} /></RunRelayProvider>
