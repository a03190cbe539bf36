// app/api/chat/route.ts
import { chat } from '../../../lib/chat-server'
export const runtime = 'nodejs'
export const POST = chat.POST
