// app/api/chat/[id]/stream/route.ts: resume (204 when nothing runs) and stop
import { chat } from '../../../../../lib/chat-server'
export const GET = chat.GET
export const DELETE = chat.DELETE
