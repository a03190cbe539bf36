'use client'
// The fixture's page: the chats named in ?chats=a,b as buttons, the chosen one shown with its history.
// Chat (app/chat.tsx), lib/chat-server.ts and app/api/ are the README's files, copied by the test harness.
import type { UIMessage } from 'ai'
import { useEffect, useState } from 'react'
import { Chat } from './chat'

export default function Page() {
  const [chats, setChats] = useState<string[]>([])
  const [chat, setChat] = useState<{ id: string; messages: UIMessage[] }>()
  const show = (id: string) =>
    void fetch(`/api/chat/${encodeURIComponent(id)}/messages`)
      .then((response) => response.json())
      .then((messages: UIMessage[]) => setChat({ id, messages }))
  useEffect(() => {
    const ids = (new URLSearchParams(location.search).get('chats') ?? 'default').split(',')
    setChats(ids)
    show(ids[0]!)
  }, [])
  return (
    <main>
      <nav>
        {chats.map((id) => (
          <button key={id} data-chat={id} onClick={() => show(id)}>{id}</button>
        ))}
      </nav>
      {chat && <Chat key={chat.id} id={chat.id} initialMessages={chat.messages} />}
    </main>
  )
}
