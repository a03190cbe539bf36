// server.ts (Node's `http`): the same handler, served by toNodeListener (it waits for `drain`)
import { createServer } from 'node:http'
import { createRunServer, toNodeListener } from 'run-relay/server'
import { yourModel } from './your-model'

const server = createRunServer({
  async generate(run, { message }) {
    for await (const text of yourModel(message, { signal: run.signal })) run.emit('token', { text })
    run.emit('done', { usage: {} })
  },
})

createServer(toNodeListener(server.fetch)).listen(3000)
