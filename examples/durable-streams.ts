import { createRunRelay } from 'run-relay'

const relay = createRunRelay()

/**
 * Follows a stream of your Durable Streams server through the hub: one connection per stream for
 * every tab, resumed from its offset after a cut; `onMessage` gets each message once, in order (a
 * JSON stream's data event carries an array of them). Returns `stop()`.
 */
export async function followStream(streamUrl: string, onMessage: (message: unknown) => void): Promise<() => void> {
  await relay.open({ runId: streamUrl, url: streamUrl, preset: 'durable-streams' })
  return relay.subscribe({ runId: streamUrl }, {
    onEvents: (events) => {
      for (const event of events) for (const message of event.json as unknown[]) onMessage(message)
    },
  }, { decode: 'json' })
}
