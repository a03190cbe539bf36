'use client'
import { useMemo } from 'react'
import { RelayChatTransport } from 'run-relay/ai-sdk'
import { useRunRelay } from 'run-relay/react'
import { Chats } from '../chat.jsx'

// The relay of the layout's <RunRelayProvider> (StrictMode in development).
export default function ProviderPage() {
  const relay = useRunRelay()
  const transport = useMemo(() => new RelayChatTransport({ relay, body: { tokens: 160, rate: 40 } }), [relay])
  return <Chats transport={transport} />
}
