'use client'
import { useChat } from '@ai-sdk/react'

/** The README's AI SDK chat, with test ids. */
export function Chat({ id, transport }) {
  const { messages, sendMessage, status } = useChat({ id, transport, resume: true })
  return (
    <section data-testid="chat" data-chat={id} data-status={status}>
      {messages.map((message) => (
        <p key={message.id} data-role={message.role}>
          {message.parts.map((part) => (part.type === 'text' ? part.text : '')).join('')}
        </p>
      ))}
      <form onSubmit={(event) => {
        event.preventDefault()
        const input = event.currentTarget.elements.namedItem('message')
        void sendMessage({ text: input.value })
        input.value = ''
      }}>
        <input name="message" disabled={status === 'streaming' || status === 'submitted'} />
      </form>
    </section>
  )
}

/** Chats A, B, C, D (ids `<prefix>A`...): the chat id lives in `?chat=`, so a reload shows the same chat. */
export function Chats({ transport }) {
  const [id, setId] = useChatId()
  if (!id) return null
  const prefix = id.slice(0, -1)
  return (
    <main>
      <nav>
        {['A', 'B', 'C', 'D'].map((chat) => (
          <button key={chat} data-testid={`open-${chat}`} onClick={() => setId(prefix + chat)}>{chat}</button>
        ))}
      </nav>
      <Chat key={id} id={id} transport={transport} />
    </main>
  )
}

import { useEffect, useState } from 'react'
function useChatId() {
  const [id, setId] = useState(null)
  useEffect(() => setId(new URLSearchParams(location.search).get('chat') ?? 'A'), [])
  const choose = (chat) => {
    history.replaceState(null, '', `?chat=${chat}`)
    setId(chat)
  }
  return [id, choose]
}
