// app/api/chat/[id]/messages/route.ts: the chat's history, for the page to pass as useChat's messages
import { loadChat } from '../../../../../lib/chat-server'
export async function GET(_request: Request, { params }: { params: Promise<{ id: string }> }) {
  return Response.json(await loadChat((await params).id))
}
