// app/api/chat/[...path]/route.ts (Next.js App Router): every route below, one handler
import { createRunServer } from 'run-relay/server'
import { yourModel } from '../../../../lib/your-model'

const server = createRunServer({
  // Emit events; return to end with `stream_end`, throw to end with `apperror`.
  async generate(run, { message }) {
    for await (const text of yourModel(message, { signal: run.signal })) run.emit('token', { text })
    run.emit('done', { usage: {} })
  },
})
export const GET = server.fetch
export const POST = server.fetch
