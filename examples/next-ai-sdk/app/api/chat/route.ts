// app/api/chat/route.ts
import { chat } from '../../../lib/chat-server'
export const POST = chat.POST
