'use client'
import { createRunRelay } from 'run-relay'
import { RelayChatTransport } from 'run-relay/ai-sdk'
import { Chats } from './chat.jsx'

// The README's one change to an AI SDK app, at module level: this also runs during prerendering.
// (`body` only slows the dev chat server's replies down so that tests can act mid-stream.)
const transport = new RelayChatTransport({ relay: createRunRelay(), body: { tokens: 160, rate: 40 } })

export default function Page() {
  return <Chats transport={transport} />
}
