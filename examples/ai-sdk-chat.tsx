import { useChat } from '@ai-sdk/react'
import type { UIMessage } from 'ai'
import { createRunRelay } from 'run-relay'
import { RelayChatTransport } from 'run-relay/ai-sdk'

// The only change to an AI SDK app: this transport. Chat switches then keep the live stream,
// every tab shares one connection per running chat, and a reload resumes without doubled text.
const transport = new RelayChatTransport({ relay: createRunRelay() })

// initialMessages: the chat's saved history (see the server's loadChat), so a reload shows the chat.
export function Chat({ id, initialMessages }: { id: string; initialMessages?: UIMessage[] }) {
  const { messages, sendMessage, status, error } = useChat({ id, messages: initialMessages, transport, resume: true })
  return (
    <section data-testid="chat" data-status={status}>
      {messages.map((message) => (
        <p key={message.id} data-role={message.role}>
          {message.parts.map((part) => (part.type === 'text' ? part.text : '')).join('')}
        </p>
      ))}
      {error && <p role="alert">{error.message}</p>}
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
