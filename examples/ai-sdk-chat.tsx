import { useChat } from '@ai-sdk/react'
import { createRunRelay } from 'run-relay'
import { RelayChatTransport } from 'run-relay/ai-sdk'

// The only change to an AI SDK app: this transport. Chat switches then keep the live stream,
// every tab shares one connection per running chat, and a reload resumes without doubled text.
const transport = new RelayChatTransport({ relay: createRunRelay() })

export function Chat({ id }: { id: string }) {
  const { messages, sendMessage, status } = useChat({ id, transport, resume: true })
  return (
    <section data-testid="chat" data-status={status}>
      {messages.map((message) => (
        <p key={message.id} data-role={message.role}>
          {message.parts.map((part) => (part.type === 'text' ? part.text : '')).join('')}
        </p>
      ))}
      <form onSubmit={(event) => {
        event.preventDefault()
        const input = event.currentTarget.elements.namedItem('message') as HTMLInputElement
        void sendMessage({ text: input.value })
        input.value = ''
      }}>
        <input name="message" disabled={status === 'streaming' || status === 'submitted'} />
      </form>
    </section>
  )
}
