/// <reference lib="webworker" />
import * as Comlink from 'comlink'
import { RunHub } from './hub.ts'

/**
 * The SharedWorker entry: one hub for every tab of this origin that uses the
 * same worker URL and name. Each connecting port gets its own client API.
 */
declare const self: SharedWorkerGlobalScope

const hub = new RunHub()

self.addEventListener('connect', (event) => {
  const port = (event as MessageEvent).ports[0]!
  Comlink.expose(hub.connect(), port)
})
